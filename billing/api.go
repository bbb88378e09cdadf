package billing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The app's API: what the founder's app does with creditdesk over HTTP
// (webhook/api.go) — read a user's credits, spend them, grant them — and the
// bearer keys it does that with.

// ErrIdempotencyMismatch is returned when an idempotency key already used
// for one request comes back with a different one.
var ErrIdempotencyMismatch = errors.New("this Idempotency-Key was already used with a different request")

// Limits on what the API accepts.
const (
	// MaxAPIAmount is the most credits one spend or grant moves.
	MaxAPIAmount = 1_000_000_000_000
	// MaxIDLength bounds user ids, idempotency keys and key names.
	MaxIDLength = 255
	// MaxReasonLength bounds a reason, in bytes.
	MaxReasonLength = 500
	// apiKeyPrefix starts every key, so a leaked one is easy to recognise.
	apiKeyPrefix = "cdk_"
)

// APIResult is the answer to a spend or grant: the user's balance right
// after it and the ledger entry it wrote. A retry with the same idempotency
// key gets the first answer again, with Replayed set.
type APIResult struct {
	Credits  int64
	EntryID  uint64
	Replayed bool
}

// Balance is what the app reads about one user: the spendable credits, the
// grants that hold them (earliest to expire first), the tier and the plan.
type Balance struct {
	User User
	// Spendable never counts credits past their expiry.
	Spendable int64
	// Grants are the open lots; expired ones are left out, so without debt
	// their Remaining sum to Spendable.
	Grants []Grant
	// Plan is the user's subscription, nil when they never had one.
	Plan *Subscription
	// Features are what the user's tier unlocks (Catalog.TierFeatures):
	// the free tier's for a user without a plan.
	Features map[string]any
}

// ValidID reports whether s can be a user id, key name or idempotency key:
// 1 to MaxIDLength bytes of printable UTF-8 without spaces at either end.
// Control characters are refused because the store separates ids from
// sequence numbers with a zero byte.
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLength || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// validKeyName is a key name: letters, digits, '-', '_' and '.', up to 64.
func validKeyName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// apiOp is a spend or a grant.
type apiOp string

const (
	opSpend apiOp = "spend"
	opGrant apiOp = "grant"
)

// apiPosting is one spend or grant asked through the API, checked.
type apiPosting struct {
	op      apiOp
	keyName string
	user    string
	amount  int64
	reason  string
	idemKey string
}

// checkAPIPosting validates a request and fills the default reason.
func checkAPIPosting(p apiPosting) (apiPosting, error) {
	p.reason = strings.TrimSpace(p.reason)
	switch {
	case !validKeyName(p.keyName):
		return p, fmt.Errorf("%w: bad API key name", ErrInvalid)
	case !ValidID(p.user):
		return p, fmt.Errorf("%w: user id must be 1 to %d printable characters", ErrInvalid, MaxIDLength)
	case p.amount <= 0 || p.amount > MaxAPIAmount:
		return p, fmt.Errorf("%w: amount must be a whole number of credits from 1 to %d", ErrInvalid, int64(MaxAPIAmount))
	case len(p.reason) > MaxReasonLength || !utf8.ValidString(p.reason):
		return p, fmt.Errorf("%w: reason must be UTF-8 text of at most %d bytes", ErrInvalid, MaxReasonLength)
	case !ValidID(p.idemKey):
		return p, fmt.Errorf("%w: Idempotency-Key must be 1 to %d printable characters", ErrInvalid, MaxIDLength)
	}
	if p.reason == "" {
		p.reason = string(p.op) + " via API"
	}
	return p, nil
}

// ledgerKey is the posting's ledger idempotency key: "api:KEYNAME:IDEMKEY",
// so two keys (two apps) never collide.
func (p apiPosting) ledgerKey() string { return "api:" + p.keyName + ":" + p.idemKey }

// fingerprint identifies what was asked, so a reused idempotency key with a
// different request is told apart from a retry.
func (p apiPosting) fingerprint() string {
	h := sha256.New()
	for _, s := range []string{string(p.op), p.user, strconv.FormatInt(p.amount, 10), p.reason} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Spend takes amount credits from user, earliest-expiring first, on behalf
// of the app's key keyName. idemKey makes it happen once: a retry with the
// same key and request returns the first answer and spends nothing; the same
// key with another request fails with ErrIdempotencyMismatch. Without enough
// spendable credits it fails with *ErrInsufficient and spends nothing.
func (s *Service) Spend(ctx context.Context, keyName, user string, amount int64, reason, idemKey string) (APIResult, error) {
	return s.apiPost(ctx, apiPosting{op: opSpend, keyName: keyName, user: user, amount: amount, reason: reason, idemKey: idemKey})
}

// APIGrant adds amount credits to user (a referral bonus granted by the
// app), with the same idempotency as Spend. The credits do not expire.
func (s *Service) APIGrant(ctx context.Context, keyName, user string, amount int64, reason, idemKey string) (APIResult, error) {
	return s.apiPost(ctx, apiPosting{op: opGrant, keyName: keyName, user: user, amount: amount, reason: reason, idemKey: idemKey})
}

func (s *Service) apiPost(ctx context.Context, p apiPosting) (APIResult, error) {
	p, err := checkAPIPosting(p)
	if err != nil {
		return APIResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return APIResult{}, err
	}
	key, fp := p.ledgerKey(), p.fingerprint()
	delta, kind := p.amount, KindAPI
	if p.op == opSpend {
		delta, kind = -p.amount, KindSpend
	}
	var (
		res    APIResult
		entry  Entry
		refuse error
	)
	// Check the key, post and remember the answer in one transaction, so two
	// concurrent requests with one key cannot both spend. Refusals write
	// nothing and return nil, so they never hold up the spends committed
	// with them.
	err = s.store.Shared(s.now(), func(tx Tx) error {
		res, entry, refuse = APIResult{}, Entry{}, nil
		if prev, ok, err := tx.APIRequest(key); err != nil {
			return err
		} else if ok {
			if prev.Fingerprint != fp {
				refuse = ErrIdempotencyMismatch
				return nil
			}
			res = APIResult{Credits: prev.Credits, EntryID: prev.EntryID, Replayed: true}
			return nil
		}
		if delta < 0 {
			var spendable int64
			u, ok, err := tx.User(p.user)
			if err != nil {
				return err
			}
			if ok {
				if spendable, err = Spendable(tx, u); err != nil {
					return err
				}
			}
			if spendable < p.amount {
				refuse = &ErrInsufficient{UserID: p.user, Balance: max(spendable, 0), Requested: p.amount}
				return nil
			}
		}
		e, fresh, err := Post(tx, Posting{UserID: p.user, Delta: delta, Key: key, Reason: p.reason,
			Source: "api:" + p.keyName, Kind: kind, Operator: "api:" + p.keyName})
		if err != nil {
			return err
		}
		res = APIResult{Credits: e.BalanceAfter, EntryID: e.ID, Replayed: !fresh}
		if fresh {
			entry = e
		}
		return tx.PutAPIRequest(key, APIRequest{Fingerprint: fp, User: p.user, Credits: e.BalanceAfter, EntryID: e.ID, At: tx.Now()})
	})
	s.noteWrite(err)
	if err != nil {
		return APIResult{}, err
	}
	if refuse != nil {
		return APIResult{}, refuse
	}
	if entry.ID != 0 {
		s.hub.publish(Activity{At: entry.At, Kind: ActivityAPI, Type: "api " + string(p.op) + " (" + p.keyName + ")",
			User: p.user, Amount: entry.Delta, State: StateApplied, Reason: p.reason, Operator: entry.Operator})
	}
	return res, nil
}

// UserBalance returns what the app reads about one user; an unknown user is
// ErrNotFound.
func (s *Service) UserBalance(id string) (Balance, error) {
	var b Balance
	if !ValidID(id) {
		return b, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	now := s.now()
	err := s.store.View(now, func(tx Tx) error {
		var err error
		if b.User, b.Spendable, b.Plan, err = readUser(tx, id); err != nil {
			return err
		}
		gs, err := tx.Grants(id)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.Remaining > 0 && (!g.Expires() || g.ExpiresAt.After(now)) {
				b.Grants = append(b.Grants, g)
			}
		}
		b.Features = s.rules.Catalog.TierFeatures(tx, b.User.Tier)
		return nil
	})
	return b, err
}

// CreateAPIKey makes a new key named name and returns it. The key is
// returned only here: the store keeps its SHA-256.
func (s *Service) CreateAPIKey(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if !validKeyName(name) {
		return "", fmt.Errorf("%w: a key name is 1 to 64 letters, digits, '-', '_' or '.'", ErrInvalid)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	plain := apiKeyPrefix + hex.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(plain))
	k := APIKey{Name: name, Hash: sum[:], Hint: apiKeyPrefix + "…" + plain[len(plain)-4:]}
	err := s.store.Update(s.now(), func(tx Tx) error { return tx.CreateAPIKey(k) })
	if err != nil {
		return "", fmt.Errorf("API key %s: %w", name, err)
	}
	s.announceBy(ctx, "API key created", name, StateApplied)
	return plain, nil
}

// ListAPIKeys returns every key, working and revoked, oldest first.
func (s *Service) ListAPIKeys() ([]APIKey, error) { return viewed(s, Tx.APIKeys) }

// RevokeAPIKey stops the key named name from working at once. Its name stays
// taken and its spends stay in the ledger under its name.
func (s *Service) RevokeAPIKey(ctx context.Context, name string) error {
	err := s.store.Update(s.now(), func(tx Tx) error {
		_, err := tx.RevokeAPIKey(strings.TrimSpace(name))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("no API key named %q: %w", name, ErrNotFound)
		}
		return err
	})
	if err == nil {
		s.announceBy(ctx, "API key revoked", name, StateApplied)
	}
	return err
}

// AuthenticateAPIKey returns the name of the working key plain is. Its
// SHA-256 is looked up among working keys' hashes and compared in constant
// time; a wrong, revoked or malformed key is just false.
func (s *Service) AuthenticateAPIKey(plain string) (string, bool) {
	if !strings.HasPrefix(plain, apiKeyPrefix) || len(plain) > 128 {
		return "", false
	}
	sum := sha256.Sum256([]byte(plain))
	var name string
	var ok bool
	err := s.store.View(time.Time{}, func(tx Tx) error {
		name, ok = tx.APIKeyNameByHash(sum[:])
		return nil
	})
	if err != nil || !ok {
		return "", false
	}
	return name, true
}
