package billing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// NewKey returns a random idempotency key.
func NewKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Adjustment is a manual grant (Delta > 0) or revoke (Delta < 0) of
// credits, as the console, the CLI and the admin socket send it.
type Adjustment struct {
	User   string `json:"user"`
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
	// Force lets a revoke take the balance below zero.
	Force bool `json:"force"`
	// Create lets a grant make a user that is not stored yet; without it a
	// change to an unknown id fails with *ErrUnknownUser. A revoke never
	// creates one.
	Create bool `json:"create,omitempty"`
	// Key is the idempotency key: the same key twice is one change.
	Key string `json:"key"`
}

// Adjust grants or revokes credits by hand with a required reason. A
// revoke beyond the balance fails with *ErrInsufficient unless a.Force; a
// change to a user that is not stored fails with *ErrUnknownUser unless it
// is a grant with a.Create. The same key twice is one change (a retry
// answers with the first entry even if it created the user).
func (s *Service) Adjust(ctx context.Context, a Adjustment) (Entry, error) {
	user, reason := strings.TrimSpace(a.User), strings.TrimSpace(a.Reason)
	switch {
	case user == "":
		return Entry{}, fmt.Errorf("%w: a user id is required", ErrInvalid)
	case a.Delta == 0:
		return Entry{}, fmt.Errorf("%w: amount must not be zero", ErrInvalid)
	case reason == "":
		return Entry{}, fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	key := a.Key
	if key == "" {
		key = NewKey()
	}
	verb := "grant"
	if a.Delta < 0 {
		verb = "revoke"
	}
	create := a.Create && a.Delta > 0
	who := OperatorOf(ctx)
	var e Entry
	err := s.store.Update(s.now(), func(tx Tx) error {
		p := Posting{UserID: user, Delta: a.Delta, Key: "manual:" + key, Reason: reason,
			Source: "manual", Kind: KindManual, AllowNegative: a.Force, Operator: who}
		if !create {
			if err := mustExist(tx, user, p.Key); err != nil {
				return err
			}
		}
		var err error
		e, _, err = Post(tx, p)
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	s.hub.publish(Activity{At: e.At, Kind: ActivityManual, Type: "manual " + verb, User: user, Amount: e.Delta,
		State: StateApplied, Reason: reason, Operator: e.Operator})
	return e, nil
}

// mustExist fails with *ErrUnknownUser when user is not stored, unless the
// posting key was already used (a retry of a change that created the user
// answers with its entry).
func mustExist(tx Tx, user, postingKey string) error {
	if _, ok, err := tx.User(user); err != nil || ok {
		return err
	}
	if _, ok, err := tx.EntryByKey(postingKey); err != nil || ok {
		return err
	}
	return &ErrUnknownUser{UserID: user}
}
