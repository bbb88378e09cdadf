package storage

import (
	"crypto/subtle"
	"encoding/json"
	"sort"

	"creditdesk/billing"
)

// APIKey returns the key record named name.
func (t *Tx) APIKey(name string) (billing.APIKey, bool, error) {
	var k billing.APIKey
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
func (t *Tx) CreateAPIKey(k billing.APIKey) error {
	if _, ok, err := t.APIKey(k.Name); err != nil {
		return err
	} else if ok {
		return billing.ErrKeyExists
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
func (t *Tx) RevokeAPIKey(name string) (billing.APIKey, error) {
	k, ok, err := t.APIKey(name)
	if err != nil {
		return billing.APIKey{}, err
	}
	if !ok {
		return billing.APIKey{}, billing.ErrNotFound
	}
	if k.Revoked() {
		return k, nil
	}
	k.RevokedAt = t.now
	if err := t.tx.Bucket(apiKeyHashesBucket).Delete(k.Hash); err != nil {
		return billing.APIKey{}, err
	}
	return k, putJSON(t.tx.Bucket(apiKeysBucket), []byte(k.Name), k)
}

// APIKeys returns every key, working and revoked, oldest first.
func (t *Tx) APIKeys() ([]billing.APIKey, error) {
	var out []billing.APIKey
	err := t.tx.Bucket(apiKeysBucket).ForEach(func(_, v []byte) error {
		var k billing.APIKey
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
func (t *Tx) APIRequest(key string) (billing.APIRequest, bool, error) {
	var r billing.APIRequest
	ok, err := getJSON(t.tx.Bucket(apiRequestsBucket), []byte(key), &r)
	return r, ok, err
}

// PutAPIRequest remembers the answer for a ledger idempotency key.
func (t *Tx) PutAPIRequest(key string, r billing.APIRequest) error {
	return putJSON(t.tx.Bucket(apiRequestsBucket), []byte(key), r)
}
