package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"creditdesk/billing"
)

// runGrant and runRevoke are `creditdesk grant|revoke USER N --reason TEXT`:
// a manual change to a user's credits, kept in the ledger with the operator
// and the reason. A user id that is not stored is refused (a typo would
// otherwise become a user holding the credits) unless grant --create.
func runGrant(env *Env, args []string) error  { return adjust(env, "grant", args) }
func runRevoke(env *Env, args []string) error { return adjust(env, "revoke", args) }

// adjust is grant (verb "grant", which may --create the user) or revoke
// ("revoke", which may --force the balance below zero).
func adjust(env *Env, verb string, args []string) error {
	fs := newFlags(env, verb)
	reason := fs.String("reason", "", "why (required; kept in the ledger)")
	var force, create bool
	if verb == "revoke" {
		fs.BoolVar(&force, "force", false, "allow the balance to go below zero")
	} else {
		fs.BoolVar(&create, "create", false, "add the user if no user has this id yet")
	}
	key := fs.String("key", "", "idempotency key: the same key twice changes the balance once")
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9' {
			other := map[string]string{"grant": "revoke", "revoke": "grant"}[verb]
			return &exitError{code: 2, msg: fmt.Sprintf("%s: N is a positive number of credits, got %s; to go the other way use creditdesk %s", verb, a, other)}
		}
	}
	pos, err := env.parseN(fs, args, 2, fmt.Sprintf("usage: creditdesk %s USER N --reason TEXT", verb))
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(pos[1], ",", ""), 10, 64)
	if err != nil || n <= 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: N must be a positive whole number of credits, got %q", verb, pos[1])}
	}
	if strings.TrimSpace(*reason) == "" {
		return &exitError{code: 2, msg: verb + " needs --reason TEXT: every manual change says why"}
	}
	if verb == "revoke" {
		n = -n
	}
	ops, done, err := env.data(true)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	isNew := false
	if create {
		known, err := ops.UsersPage("", pos[0], 1000)
		if err != nil {
			return err
		}
		isNew = !slices.ContainsFunc(known, func(u billing.User) bool { return u.ID == pos[0] })
	}
	e, err := ops.Adjust(env.ctx(), billing.Adjustment{User: pos[0], Delta: n, Reason: *reason, Force: force, Create: create, Key: *key})
	var insufficient *billing.ErrInsufficient
	var unknown *billing.ErrUnknownUser
	switch {
	case errors.As(err, &insufficient):
		return fmt.Errorf("%v; nothing changed (pass --force to go below zero)", err)
	case errors.As(err, &unknown) && verb == "grant":
		return fmt.Errorf("%v; nothing changed (check the id, or pass --create to add this user)", err)
	case errors.As(err, &unknown):
		return fmt.Errorf("%v; nothing changed", err)
	case err != nil:
		return err
	}
	if *key != "" && e.At.Before(start.Add(-time.Second)) {
		fmt.Fprintf(env.Stdout, "%s: key %s was already used (entry %d, %+d credits on %s); nothing changed\n",
			pos[0], *key, e.ID, e.Delta, e.At.Local().Format(time.DateTime))
		return nil
	}
	fmt.Fprintf(env.Stdout, "%s: %+d credits, balance %s (entry %d)\n", pos[0], e.Delta, billing.Credits(e.BalanceAfter), e.ID)
	if isNew {
		fmt.Fprintf(env.Stderr, "note: %s is a new user (--create)\n", pos[0])
	}
	return nil
}
