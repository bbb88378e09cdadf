package storage

import (
	"creditdesk/billing"
)

// flagsBucket maps flagKey to an open attention flag (billing.Flag, JSON).
// Added in schema version 6 (before, kv "attn:KIND:ID"); meta's
// "count:flags" counts them, kept in the transaction that writes them.
var flagsBucket = []byte("flags")

// flagKey is the flag's kind, 0x00, then its id, so one kind's flags are
// contiguous.
func flagKey(kind billing.FlagKind, id string) []byte {
	return append(append([]byte(kind), 0), id...)
}

// Flag returns an open attention flag.
func (t *Tx) Flag(kind billing.FlagKind, id string) (billing.Flag, bool, error) {
	return get[billing.Flag](t.tx.Bucket(flagsBucket), flagKey(kind, id))
}

// PutFlag stores f, counting it when it is new.
func (t *Tx) PutFlag(f billing.Flag) error {
	b, k := t.tx.Bucket(flagsBucket), flagKey(f.Kind, f.ID)
	if b.Get(k) == nil {
		if err := addCount(t.tx, "flags", 1); err != nil {
			return err
		}
	}
	return putJSON(b, k, f)
}

// DeleteFlag removes a flag; one that is not open changes nothing.
func (t *Tx) DeleteFlag(kind billing.FlagKind, id string) error {
	b, k := t.tx.Bucket(flagsBucket), flagKey(kind, id)
	if b.Get(k) == nil {
		return nil
	}
	if err := addCount(t.tx, "flags", -1); err != nil {
		return err
	}
	return b.Delete(k)
}

// Flags returns every open flag, by kind then id.
func (t *Tx) Flags() ([]billing.Flag, error) {
	return all[billing.Flag](t.tx.Bucket(flagsBucket))
}
