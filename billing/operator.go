package billing

import (
	"context"
	"os/user"
	"strings"
)

// Who did it. Every manual change (grant, revoke, assign, link, retry, API
// key) records the operator who made it, in the ledger entry and the live
// feed:
//
//	local:UNIXUSER  the console or command line on the machine
//	ssh:COMMENT     a console over SSH (the key's comment, else its fingerprint)
//	api:KEYNAME     the app's API
//
// The operator travels with the request's context, set once where the
// request enters: the console's session, the admin socket's connection, the
// SSH session, the API key check.

type operatorKey struct{}

// WithOperator returns ctx carrying who acts.
func WithOperator(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, operatorKey{}, who)
}

// OperatorOf returns who acts in ctx; "local:?" when no one was set, so a
// manual change is never recorded without a name.
func OperatorOf(ctx context.Context) string {
	if who, ok := ctx.Value(operatorKey{}).(string); ok && who != "" {
		return who
	}
	return "local:?"
}

// LocalOperator is "local:" and the name of the Unix user running this
// process.
func LocalOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return "local:?"
}

// LocalOperatorByUID is "local:" and the name of the Unix user with uid, or
// the uid itself when it has no name.
func LocalOperatorByUID(uid string) string {
	if u, err := user.LookupId(uid); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return "local:uid" + strings.TrimSpace(uid)
}
