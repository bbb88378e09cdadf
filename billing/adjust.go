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

// Adjust grants (delta > 0) or revokes (delta < 0) credits by hand with a
// required reason. A revoke beyond the balance fails with
// *ErrInsufficient unless force. The same key twice is one change.
func (s *Service) Adjust(ctx context.Context, user string, delta int64, reason string, force bool, key string) (Entry, error) {
	user, reason = strings.TrimSpace(user), strings.TrimSpace(reason)
	switch {
	case user == "":
		return Entry{}, fmt.Errorf("%w: a user id is required", ErrInvalid)
	case delta == 0:
		return Entry{}, fmt.Errorf("%w: amount must not be zero", ErrInvalid)
	case reason == "":
		return Entry{}, fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if key == "" {
		key = NewKey()
	}
	verb := "grant"
	if delta < 0 {
		verb = "revoke"
	}
	who := OperatorOf(ctx)
	var e Entry
	err := s.store.Update(s.now(), func(tx Tx) error {
		var err error
		e, _, err = Post(tx, Posting{UserID: user, Delta: delta, Key: "manual:" + key, Reason: reason,
			Source: "manual", Kind: KindManual, AllowNegative: force, Operator: who})
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	s.hub.publish(Activity{At: e.At, Kind: ActivityManual, Type: "manual " + verb, User: user, Amount: e.Delta,
		State: StateApplied, Reason: reason, Operator: e.Operator})
	return e, nil
}
