package storage

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// APIKey is a bearer key the founder's app uses to call creditdesk's API.
// Only the SHA-256 of the key is stored; the key itself is shown once, when
// it is created, and cannot be read back.
type APIKey struct {
	// Name identifies the key in the console and in the ledger (source
	// "api:NAME"). A name is never reused, even after its key is revoked,
	// so a ledger source always names one key.
	Name string `json:"name"`
	// Hash is the SHA-256 of the key.
	Hash []byte `json:"hash"`
	// Hint is the key's prefix and last characters ("cdk_…3f9a"), enough to
	// tell keys apart, far too little to use.
	Hint      string    `json:"hint"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the key stopped working; zero while it works.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// APIRequest is the remembered answer to one spend or grant through the
// app's API, keyed by its ledger idempotency key. A retry with the same key
// and the same request gets this answer again; a different request with the
// same key is refused by comparing Fingerprint.
type APIRequest struct {
	// Fingerprint identifies the request: operation, user, amount, reason.
	Fingerprint string    `json:"fp"`
	User        string    `json:"user"`
	Credits     int64     `json:"credits"`
	EntryID     uint64    `json:"entry_id"`
	At          time.Time `json:"at"`
}

// ErrKeyExists is returned when an API key name is already taken.
var ErrKeyExists = errors.New("an API key with this name exists (names of revoked keys stay taken so the ledger stays unambiguous)")

// APIKey returns the key record named name.
func (t *Tx) APIKey(name string) (APIKey, bool, error) {
	var k APIKey
	ok, err := getJSON(t.tx.Bucket(apiKeysBucket), []byte(name), &k)
	return k, ok, err
}

// APIKeyNameByHash returns the name of the working (not revoked) key whose
// SHA-256 is hash. Only working keys are indexed, so this is one lookup; the
// stored hash is compared with hash in constant time.
func (t *Tx) APIKeyNameByHash(hash []byte) (string, bool) {
	k, name := t.tx.Bucket(apiKeyHashesBucket).Cursor().Seek(hash)
	if k == nil || subtle.ConstantTimeCompare(k, hash) != 1 {
		return "", false
	}
	return string(name), true
}

// CreateAPIKey stores a new key; a name already used fails with ErrKeyExists.
func (t *Tx) CreateAPIKey(k APIKey) error {
	if _, ok, err := t.APIKey(k.Name); err != nil {
		return err
	} else if ok {
		return ErrKeyExists
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = t.now
	}
	if err := putJSON(t.tx.Bucket(apiKeysBucket), []byte(k.Name), k); err != nil {
		return err
	}
	return t.tx.Bucket(apiKeyHashesBucket).Put(k.Hash, []byte(k.Name))
}

// RevokeAPIKey stops the key named name from working and returns its record.
// Revoking a revoked key changes nothing.
func (t *Tx) RevokeAPIKey(name string) (APIKey, error) {
	k, ok, err := t.APIKey(name)
	if err != nil {
		return APIKey{}, err
	}
	if !ok {
		return APIKey{}, ErrNotFound
	}
	if k.Revoked() {
		return k, nil
	}
	k.RevokedAt = t.now
	if err := t.tx.Bucket(apiKeyHashesBucket).Delete(k.Hash); err != nil {
		return APIKey{}, err
	}
	return k, putJSON(t.tx.Bucket(apiKeysBucket), []byte(k.Name), k)
}

// APIKeys returns every key, working and revoked, oldest first.
func (t *Tx) APIKeys() ([]APIKey, error) {
	var out []APIKey
	err := t.tx.Bucket(apiKeysBucket).ForEach(func(_, v []byte) error {
		var k APIKey
		if err := json.Unmarshal(v, &k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// APIRequest returns the remembered answer for a ledger idempotency key.
func (t *Tx) APIRequest(key string) (APIRequest, bool, error) {
	var r APIRequest
	ok, err := getJSON(t.tx.Bucket(apiRequestsBucket), []byte(key), &r)
	return r, ok, err
}

// PutAPIRequest remembers the answer for a ledger idempotency key.
func (t *Tx) PutAPIRequest(key string, r APIRequest) error {
	return putJSON(t.tx.Bucket(apiRequestsBucket), []byte(key), r)
}
