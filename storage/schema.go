package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Every bucket is created in one transaction when the store opens,
// so code that reads or writes can assume they exist.
var (
	// metaBucket holds the schema version and store-wide counters.
	metaBucket = []byte("meta")
	// eventsBucket maps an arrival sequence (8 bytes big-endian) to an EventRecord
	// without its payload, so listing pages of events never reads payloads.
	eventsBucket = []byte("events")
	// payloadsBucket maps the same arrival sequence to the body Stripe signed,
	// zstd-compressed (payloads.go).
	payloadsBucket = []byte("payloads")
	// eventIDsBucket maps a Stripe event id to its arrival sequence; it is what
	// makes a redelivery a no-op.
	eventIDsBucket = []byte("event_ids")
	// pendingBucket holds the arrival sequence of every event in state received
	// or waiting, with what the processor's filters read of it (pending.go);
	// the processor walks it in order.
	pendingBucket = []byte("pending")
	// usersBucket maps a user id to a User.
	usersBucket = []byte("users")
	// customersBucket maps a Stripe customer id to the user id it belongs to.
	customersBucket = []byte("customers")
	// ledgerBucket maps userID, 0x00, entry id (8 bytes big-endian) to an Entry,
	// so one user's entries are contiguous and in order.
	ledgerBucket = []byte("ledger")
	// ledgerKeysBucket maps an idempotency key to the entry id that used it.
	ledgerKeysBucket = []byte("ledger_keys")
	// grantsBucket maps userID, 0x00, entry id to the Grant the entry created.
	grantsBucket = []byte("grants")
	// purchasesBucket maps a purchase id (a checkout session id) to a Purchase.
	purchasesBucket = []byte("purchases")
	// purchaseOrderBucket maps a purchase sequence (8 bytes) to its id, newest last.
	purchaseOrderBucket = []byte("purchase_order")
	// kvBucket held small named values by key prefix (subscriptions, flags,
	// caches) as JSON until schema version 6 moved each kind to a bucket of
	// its own (subscriptions.go, flags.go, payments.go, assignments.go,
	// lineitems.go, catalog.go). Only migrations read it.
	kvBucket = []byte("kv")

	// Added in schema version 2.

	// apiKeysBucket maps an API key name to its APIKey record (hash only).
	apiKeysBucket = []byte("api_keys")
	// apiKeyHashesBucket maps the SHA-256 of a working API key to its name;
	// a revoked key's hash is removed.
	apiKeyHashesBucket = []byte("api_key_hashes")
	// apiRequestsBucket maps the ledger idempotency key of a spend or grant
	// made through the app's API to the APIRequest answered, so a retry gets
	// the same answer and a reused key with another request is refused.
	apiRequestsBucket = []byte("api_requests")

	// Added in schema version 4.

	// userPurchasesBucket maps userID, 0x00, purchase sequence to the
	// purchase id, so one user's purchases are read without a scan.
	userPurchasesBucket = []byte("user_purchases")

	// Added in schema version 5.

	// expiriesBucket holds, for each user with credits that expire, the key
	// expiry (8 bytes, unix nanoseconds) then user id: the expiry run reads
	// the due ones without scanning users.
	expiriesBucket = []byte("expiries")
)

var allBuckets = [][]byte{
	metaBucket, eventsBucket, payloadsBucket, eventIDsBucket, pendingBucket,
	usersBucket, customersBucket, ledgerBucket, ledgerKeysBucket, grantsBucket,
	purchasesBucket, purchaseOrderBucket, kvBucket,
}

var schemaVersionKey = []byte("schema_version")

// migration moves a database from version-1 to version in the same transaction
// that records the new version.
type migration struct {
	version uint64
	name    string
	apply   func(tx *bolt.Tx) error
}

// migrations is the ordered history of the schema. Append; never edit a
// released entry. Version 1 is the layout above.
var migrations = []migration{
	{version: 1, name: "initial layout", apply: func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
	{version: 2, name: "app API keys and idempotent API requests", apply: func(tx *bolt.Tx) error {
		for _, b := range [][]byte{apiKeysBucket, apiKeyHashesBucket, apiRequestsBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
	{version: 3, name: "count pending and waiting events in meta", apply: func(tx *bolt.Tx) error {
		var pending, waiting int64
		events := tx.Bucket(eventsBucket)
		err := tx.Bucket(pendingBucket).ForEach(func(k, _ []byte) error {
			pending++
			var rec billing.EventRecord
			if _, err := getJSON(events, k, &rec); err != nil {
				return err
			}
			if rec.State == billing.StateWaiting {
				waiting++
			}
			return nil
		})
		if err != nil {
			return err
		}
		meta := tx.Bucket(metaBucket)
		if err := meta.Put(counterKey("pending"), itob(uint64(pending))); err != nil {
			return err
		}
		return meta.Put(counterKey("waiting"), itob(uint64(waiting)))
	}},
	{version: 4, name: "index purchases by user", apply: func(tx *bolt.Tx) error {
		idx, err := tx.CreateBucketIfNotExists(userPurchasesBucket)
		if err != nil {
			return err
		}
		return tx.Bucket(purchasesBucket).ForEach(func(k, v []byte) error {
			var p billing.Purchase
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			return idx.Put(userKey(p.UserID, p.Seq), k)
		})
	}},
	{version: 5, name: "index users by next expiry", apply: func(tx *bolt.Tx) error {
		idx, err := tx.CreateBucketIfNotExists(expiriesBucket)
		if err != nil {
			return err
		}
		return tx.Bucket(usersBucket).ForEach(func(k, v []byte) error {
			var u billing.User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			if u.NextExpiry.IsZero() {
				return nil
			}
			return idx.Put(expiryKey(u.NextExpiry, u.ID), nil)
		})
	}},
	{version: 6, name: "typed buckets instead of kv; attention flags counted", apply: migrateKV},
	{version: 7, name: "outbox of messages to the app (outbox.go)", apply: migrateOutbox},
	{version: 8, name: "per-day rollups of money, credits and plans (rollups.go)", apply: buildRollups},
	{version: 9, name: "event records in a binary layout, not JSON (inbox.go)", apply: binaryEvents},
	{version: 10, name: "ledger entries and grants in a binary layout, not JSON (ledger.go)", apply: binaryLedger},
	{version: 11, name: "users in a binary layout, not JSON (ledger.go)", apply: binaryUsers},
	{version: 12, name: "outbox messages' bodies apart from their delivery status, and an index of delivered ones to prune (outbox.go)", apply: splitOutbox},
	{version: 13, name: "a bucket for the dictionaries payloads are compressed against (payloads.go)", apply: func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(payloadDictsBucket)
		return err
	}},
}

// binaryUsers rewrites every user from JSON to encodeUser's layout; a
// record that is not JSON stops the migration (nothing changes).
func binaryUsers(tx *bolt.Tx) error {
	if err := rewrite(tx.Bucket(usersBucket), func(v []byte) ([]byte, error) {
		var u billing.User
		err := json.Unmarshal(v, &u)
		return encodeUser(u), err
	}); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	return nil
}

// binaryLedger rewrites every ledger entry and grant from JSON to
// encodeEntry's and encodeGrant's layouts; a record that is not JSON stops
// the migration (nothing changes).
func binaryLedger(tx *bolt.Tx) error {
	if err := rewrite(tx.Bucket(ledgerBucket), func(v []byte) ([]byte, error) {
		var e billing.Entry
		err := json.Unmarshal(v, &e)
		return encodeEntry(e), err
	}); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := rewrite(tx.Bucket(grantsBucket), func(v []byte) ([]byte, error) {
		var g billing.Grant
		err := json.Unmarshal(v, &g)
		return encodeGrant(g), err
	}); err != nil {
		return fmt.Errorf("grants: %w", err)
	}
	return nil
}

// rewrite replaces every value of b with what conv makes of it.
func rewrite(b *bolt.Bucket, conv func([]byte) ([]byte, error)) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		nv, err := conv(v)
		if err != nil {
			return fmt.Errorf("%s: %w", shortKey(k), err)
		}
		k = bytes.Clone(k)
		if err := b.Put(k, nv); err != nil {
			return err
		}
		c.Seek(k) // a Put may move the cursor's page: find the key again
	}
	return nil
}

// binaryEvents rewrites every event record from JSON to encodeEvent's
// layout; a record that is not JSON stops the migration (nothing changes).
func binaryEvents(tx *bolt.Tx) error {
	events := tx.Bucket(eventsBucket)
	events.FillPercent = eventFillPercent
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var rec billing.EventRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("event seq %d: %w", btoi(k), err)
		}
		k = bytes.Clone(k)
		if err := events.Put(k, encodeEvent(rec)); err != nil {
			return err
		}
		c.Seek(k) // a Put may move the cursor's page: find the key again
	}
	return nil
}

// kvKinds are the record kinds the kv bucket held, by key prefix, and where
// migration 6 puts each: the bucket, and the key and value there.
var kvKinds = []struct {
	prefix string
	move   func(tx *bolt.Tx, id string, v []byte) error
}{
	{"sub:", func(tx *bolt.Tx, id string, v []byte) error {
		var s billing.Subscription
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if err := tx.Bucket(userSubscriptionsBucket).Put(userSubscriptionKey(s.UserID, id), nil); err != nil {
			return err
		}
		return tx.Bucket(subscriptionsBucket).Put([]byte(id), v)
	}},
	{"attn:", func(tx *bolt.Tx, id string, v []byte) error {
		kind, fid, ok := strings.Cut(id, ":")
		if !ok {
			return fmt.Errorf("flag key %q has no kind", id)
		}
		return tx.Bucket(flagsBucket).Put(flagKey(billing.FlagKind(kind), fid), v)
	}},
	{"assign:", moveString(assignmentsBucket)},
	{"pi:", moveString(paymentIntentsBucket)},
	{"charge:", moveString(chargesBucket)},
	{"lineitems:", moveRaw(lineItemsBucket)},
	{"product:", moveRaw(productsBucket)},
	{"price:", moveRaw(pricesBucket)},
	{"coupon:", moveRaw(couponsBucket)},
	{"catalog:synced_at", func(tx *bolt.Tx, id string, v []byte) error {
		if id != "" {
			return fmt.Errorf("unknown catalog key %q", id)
		}
		return tx.Bucket(metaBucket).Put(catalogSyncedKey, v)
	}},
}

// moveRaw keeps the JSON value as it was, under the id.
func moveRaw(bucket []byte) func(*bolt.Tx, string, []byte) error {
	return func(tx *bolt.Tx, id string, v []byte) error { return tx.Bucket(bucket).Put([]byte(id), v) }
}

// moveString keeps a JSON string as its raw bytes, under the id.
func moveString(bucket []byte) func(*bolt.Tx, string, []byte) error {
	return func(tx *bolt.Tx, id string, v []byte) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		return tx.Bucket(bucket).Put([]byte(id), []byte(s))
	}
}

// typedBuckets are the buckets of schema version 6.
var typedBuckets = [][]byte{
	subscriptionsBucket, userSubscriptionsBucket, flagsBucket, assignmentsBucket, paymentIntentsBucket,
	chargesBucket, lineItemsBucket, productsBucket, pricesBucket, couponsBucket,
}

// migrateKV moves every record of the kv bucket to its typed bucket and
// counts the attention flags; the kv bucket goes. A key of no known kind
// stops the migration (nothing is changed) rather than being lost.
func migrateKV(tx *bolt.Tx) error {
	for _, b := range typedBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	// The flags counter counts what the flags bucket holds, once moved.
	countFlags := func() error {
		var n uint64 // a cursor sees this transaction's writes; Stats does not
		c := tx.Bucket(flagsBucket).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return tx.Bucket(metaBucket).Put(counterKey("flags"), itob(n))
	}
	kv := tx.Bucket(kvBucket)
	if kv == nil {
		return countFlags()
	}
	err := kv.ForEach(func(k, v []byte) error {
		key := string(k)
		for _, kind := range kvKinds {
			if id, ok := strings.CutPrefix(key, kind.prefix); ok {
				if err := kind.move(tx, id, v); err != nil {
					return fmt.Errorf("kv %q: %w", key, err)
				}
				return nil
			}
		}
		return fmt.Errorf("kv %q is no record kind this creditdesk knows", key)
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(kvBucket); err != nil {
		return err
	}
	return countFlags()
}

// SchemaVersion is the schema this binary writes.
func SchemaVersion() uint64 { return migrations[len(migrations)-1].version }

func migrate(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		var current uint64
		if v := meta.Get(schemaVersionKey); v != nil {
			current = btoi(v)
		}
		if current > SchemaVersion() {
			return fmt.Errorf("database schema version %d is newer than this creditdesk understands (%d): upgrade creditdesk", current, SchemaVersion())
		}
		for _, m := range migrations {
			if m.version <= current {
				continue
			}
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			if err := meta.Put(schemaVersionKey, itob(m.version)); err != nil {
				return err
			}
		}
		return nil
	})
}

// itob encodes v as 8 big-endian bytes so keys sort numerically.
func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// userKey is userID, 0x00, then id as 8 big-endian bytes.
func userKey(userID string, id uint64) []byte {
	k := make([]byte, 0, len(userID)+9)
	k = append(k, userID...)
	k = append(k, 0)
	return append(k, itob(id)...)
}

func userPrefix(userID string) []byte {
	k := make([]byte, 0, len(userID)+1)
	k = append(k, userID...)
	return append(k, 0)
}
