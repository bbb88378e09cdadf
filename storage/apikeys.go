package storage

import (
	"crypto/subtle"
	"sort"

	"creditdesk/billing"
)

// APIKey returns the key record named name.
func (t *Tx) APIKey(name string) (billing.APIKey, bool, error) {
	return get[billing.APIKey](t.tx.Bucket(apiKeysBucket), []byte(name))
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
	out, err := all[billing.APIKey](t.tx.Bucket(apiKeysBucket))
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// APIRequest returns the remembered answer for a ledger idempotency key.
func (t *Tx) APIRequest(key string) (billing.APIRequest, bool, error) {
	return get[billing.APIRequest](t.tx.Bucket(apiRequestsBucket), []byte(key))
}

// PutAPIRequest remembers the answer for a ledger idempotency key.
func (t *Tx) PutAPIRequest(key string, r billing.APIRequest) error {
	return putJSON(t.tx.Bucket(apiRequestsBucket), []byte(key), r)
}
