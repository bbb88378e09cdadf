package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"

	"creditdesk/billing"
)

// stripeLike is a body shaped like a Stripe event: the same field names
// and objects each time, other ids and amounts.
func stripeLike(i int) []byte {
	types := []string{"checkout.session.completed", "invoice.paid", "customer.subscription.updated", "charge.refunded"}
	return fmt.Appendf(nil, `{"id":"evt_%08dQx7","object":"event","api_version":"2023-10-16","created":%d,"data":{"object":{"id":"cs_test_%06dA9","object":"checkout.session","amount_subtotal":%d,"amount_total":%d,"currency":"usd","customer":"cus_%05dZ","customer_details":{"email":"user%d@example.com","name":"User %d","phone":null,"tax_exempt":"none","tax_ids":[]},"livemode":false,"metadata":{"user_id":"user_%d","type":"topup"},"mode":"payment","payment_intent":"pi_%07dK","payment_status":"paid","status":"complete","success_url":"https://example.com/success","total_details":{"amount_discount":0,"amount_shipping":0,"amount_tax":0}}},"livemode":false,"pending_webhooks":1,"request":{"id":"req_%06d","idempotency_key":null},"type":%q}`,
		i, 1700000000+i, i, 500+i%7*100, 500+i%7*100, i%97, i%97, i%97, i%97, i, i, types[i%len(types)])
}

// ingestMany stores bodies from 16 writers at once (group commits).
func ingestMany(t *testing.T, s *Store, from, to int) map[string][]byte {
	t.Helper()
	bodies := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := fmt.Sprintf("evt_%08dQx7", i)
				body := stripeLike(i)
				if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: id, Type: "x"}, Payload: body}); err != nil {
					t.Error(err)
				}
				mu.Lock()
				bodies[id] = body
				mu.Unlock()
			}
		}()
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return bodies
}

// waitForDict waits (at most 20 s) until the store compresses against a
// dictionary.
func waitForDict(t *testing.T, s *Store) uint32 {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if id := s.codec.enc.Load().id; id != 0 {
			return id
		}
	}
	t.Fatal("no dictionary trained")
	return 0
}

func storedSizes(t *testing.T, s *Store, from, to uint64) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		for seq := from; seq <= to; seq++ {
			n += len(tx.Bucket(payloadsBucket).Get(itob(seq)))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// After its first dictTrainAfter payloads a store trains a dictionary
// from them and compresses what follows against it, far smaller; every
// payload, from before and after, reads back as it came, also after the
// store is opened again, and verify passes.
func TestStoreTrainsAPayloadDictionaryAndReadsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bodies := ingestMany(t, s, 0, dictTrainAfter)
	id := waitForDict(t, s)
	// A payload compressed before the dictionary was ready, whose commit
	// returns only now, trains no second one.
	s.afterIngest(false)
	for s.codec.training.Load() {
		time.Sleep(time.Millisecond)
	}
	for k, v := range ingestMany(t, s, dictTrainAfter, 2*dictTrainAfter) {
		bodies[k] = v
	}
	without := storedSizes(t, s, 1, dictTrainAfter)
	with := storedSizes(t, s, dictTrainAfter+1, 2*dictTrainAfter)
	t.Logf("%d payloads: %d bytes stored without a dictionary, %d against it", dictTrainAfter, without, with)
	if with*2 > without {
		t.Errorf("payloads compressed against the dictionary take %d bytes, without %d: it does not pay", with, without)
	}
	var named int
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(payloadsBucket).ForEach(func(k, v []byte) error {
			var h zstd.Header
			if h.Decode(v) == nil && h.DictionaryID == id {
				named++
			}
			return nil
		})
	})
	if named < dictTrainAfter {
		t.Errorf("%d payloads name dictionary %d, want the %d stored after it", named, id, dictTrainAfter)
	}
	var dicts int
	_ = s.db.View(func(tx *bolt.Tx) error { dicts = tx.Bucket(payloadDictsBucket).Stats().KeyN; return nil })
	if dicts != 1 {
		t.Errorf("%d dictionaries stored, want 1 (payloads compressed while it was trained must not train another)", dicts)
	}
	check := func(s *Store) {
		t.Helper()
		for evID, body := range bodies {
			ev, err := s.EventByID(evID)
			if err != nil || !bytes.Equal(ev.Payload, body) {
				t.Fatalf("%s read back wrong: %v", evID, err)
			}
		}
		mustVerify(t, s)
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.codec.enc.Load().id; got != id {
		t.Fatalf("reopened store compresses against dictionary %d, want %d", got, id)
	}
	check(s)
}

// verify says so when a payload names a dictionary the store does not
// have, or a dictionary is not one.
func TestVerifyFindsAMissingOrBrokenPayloadDictionary(t *testing.T) {
	s := openTemp(t)
	ingestMany(t, s, 0, dictTrainAfter)
	id := waitForDict(t, s)
	ingestMany(t, s, dictTrainAfter, dictTrainAfter+10)
	key := binary.BigEndian.AppendUint32(nil, id)
	var dict []byte
	_ = s.db.View(func(tx *bolt.Tx) error { dict = bytes.Clone(tx.Bucket(payloadDictsBucket).Get(key)); return nil })
	for name, change := range map[string]func(b *bolt.Bucket) error{
		"missing": func(b *bolt.Bucket) error { return b.Delete(key) },
		"broken":  func(b *bolt.Bucket) error { return b.Put(key, []byte("not a dictionary")) },
	} {
		if err := s.db.Update(func(tx *bolt.Tx) error { return change(tx.Bucket(payloadDictsBucket)) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(); err == nil || !strings.Contains(err.Error(), "dictionary") {
			t.Errorf("%s dictionary: verify says %v", name, err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(payloadDictsBucket).Put(key, dict) }); err != nil {
			t.Fatal(err)
		}
	}
	mustVerify(t, s)
}

// A store whose payloads are all alike (zstd finds nothing to learn from
// them) keeps compressing without a dictionary, reads everything, and
// tries again only after twice as many payloads each time, not after every
// thousand.
func TestPayloadsAllAlikeTrainNoDictionaryAndTryLessOften(t *testing.T) {
	s := openTemp(t)
	body := []byte(`{"id":"x","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_x"}}}`)
	for i := range 4 * dictTrainAfter {
		if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: fmt.Sprint("evt_", i), Type: "x"}, Payload: body}); err != nil {
			t.Fatal(err)
		}
		for s.codec.training.Load() { // one training at a time; wait for it, so the count below is exact
			time.Sleep(time.Millisecond)
		}
	}
	// Trainings at 1,000 (fails), then 2,000 payloads later (fails): two.
	if n := s.codec.failed.Load(); n != 2 {
		t.Errorf("%d trainings failed over %d payloads, want 2 (at 1,000 and 3,000)", n, 4*dictTrainAfter)
	}
	if id := s.codec.enc.Load().id; id != 0 {
		t.Errorf("compressing against dictionary %d", id)
	}
	ev, err := s.EventByID("evt_3999")
	if err != nil || !bytes.Equal(ev.Payload, body) {
		t.Fatalf("payload read back wrong: %v", err)
	}
	mustVerify(t, s)
}

// Payloads read while the store trains its dictionary and starts
// compressing against it (readers on the old decoder, writers on the new
// encoder) all read back as they came.
func TestPayloadsReadWhileADictionaryArrives(t *testing.T) {
	s := openTemp(t)
	ingestMany(t, s, 0, dictTrainAfter-50)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := r; ; i = (i + 7) % (dictTrainAfter - 50) {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("evt_%08dQx7", i)
				if ev, err := s.EventByID(id); err != nil || !bytes.Equal(ev.Payload, stripeLike(i)) {
					t.Errorf("%s read back wrong while the dictionary arrived: %v", id, err)
					return
				}
			}
		}()
	}
	ingestMany(t, s, dictTrainAfter-50, dictTrainAfter+500)
	waitForDict(t, s)
	more := ingestMany(t, s, dictTrainAfter+500, dictTrainAfter+600)
	close(stop)
	readers.Wait()
	for id, body := range more {
		if ev, err := s.EventByID(id); err != nil || !bytes.Equal(ev.Payload, body) {
			t.Fatalf("%s read back wrong: %v", id, err)
		}
	}
	mustVerify(t, s)
}
