package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// The payloads bucket (payloadsBucket) maps an event's arrival sequence (8
// bytes big-endian, the same key as its record in the events bucket) to the
// body Stripe signed. A payload is written once, when the event is
// ingested, and never rewritten: what the processor changes (the event's
// state) lives in the events bucket, apart from it.
//
// The value is the body compressed as one zstd frame (it starts with zstd's
// magic number, 28 b5 2f fd). Payloads stored by earlier versions are the
// raw JSON bodies, which start with '{' or white space and so never with
// that magic; they are read as they are and not rewritten.
//
// Stripe events are small and alike (the same field names, the same
// objects), which compresses badly one at a time and very well against a
// dictionary of what such events look like. So each store trains its own,
// from its first payloads (dictTrainAfter of them), and keeps it in
// payloadDictsBucket (schema version 13): dictionary id (4 bytes
// big-endian) to the zstd dictionary. Payloads from then on are compressed
// against it, and their frames name it; frames without a dictionary id
// (those stored before) read as before. A dictionary is never changed or
// removed while a payload names it. Trained from the store's own events,
// it fits the founder's API version and event mix; no data of anyone
// else's ships in the binary.

// payloadDictsBucket maps a dictionary id to a zstd dictionary.
var payloadDictsBucket = []byte("payload_dicts")

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// maxPayload bounds a decoded payload; the receiver refuses bodies over 1
// MiB, so anything larger is damage, not an event.
const maxPayload = 8 << 20

// dictTrainAfter is how many payloads a store compresses without a
// dictionary before it trains one from them, and dictHistory how much of
// them (the newest) the dictionary keeps as content.
const (
	dictTrainAfter = 1000
	dictHistory    = 64 << 10
)

var encoderOptions = []zstd.EOption{
	zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1 << 20),
}

// payloadCodec compresses and decompresses one store's payloads: with its
// newest dictionary, and reading every dictionary its payloads name.
type payloadCodec struct {
	enc      atomic.Pointer[dictEncoder] // against the newest dictionary, or none
	stored   atomic.Int64                // payloads compressed without a dictionary
	training atomic.Bool
	failed   atomic.Int64 // trainings that failed in a row (payloads all alike: zstd finds nothing to learn)

	mu   sync.Mutex
	dec  *zstd.Decoder // knows every dictionary in ids
	ids  map[uint32]bool
	last uint32 // the newest dictionary's id (0: none)
}

// dictEncoder compresses against dictionary id (0: none).
type dictEncoder struct {
	*zstd.Encoder
	id uint32
}

func newPayloadCodec() (*payloadCodec, error) {
	c := &payloadCodec{ids: map[uint32]bool{}}
	enc, err := zstd.NewWriter(nil, encoderOptions...)
	if err != nil {
		return nil, err
	}
	c.enc.Store(&dictEncoder{Encoder: enc})
	if c.dec, err = newDecoder(nil); err != nil {
		return nil, err
	}
	return c, nil
}

func newDecoder(dicts [][]byte) (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(maxPayload), zstd.WithDecoderDicts(dicts...))
}

// load reads the dictionaries stored in tx (none before schema version 13)
// and compresses from now on against the newest.
func (c *payloadCodec) load(tx *bolt.Tx) error {
	b := tx.Bucket(payloadDictsBucket)
	if b == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var dicts [][]byte
	ids := map[uint32]bool{}
	var last uint32
	var lastDict []byte
	err := b.ForEach(func(k, v []byte) error {
		id, err := dictID(k, v)
		if err != nil {
			return err
		}
		d := bytes.Clone(v)
		dicts, ids[id], last, lastDict = append(dicts, d), true, id, d
		return nil
	})
	if err != nil || last == c.last {
		return err
	}
	dec, err := newDecoder(dicts)
	if err != nil {
		return fmt.Errorf("payload dictionaries: %w", err)
	}
	enc, err := zstd.NewWriter(nil, append(encoderOptions[:len(encoderOptions):len(encoderOptions)], zstd.WithEncoderDict(lastDict))...)
	if err != nil {
		return fmt.Errorf("payload dictionary %d: %w", last, err)
	}
	// The old decoder is not closed: a reader may be using it now (it
	// knows every dictionary but the new one); the collector takes it.
	c.dec, c.ids, c.last = dec, ids, last
	c.enc.Store(&dictEncoder{Encoder: enc, id: last})
	return nil
}

// dictID checks that v is a zstd dictionary stored under its own id.
func dictID(k, v []byte) (uint32, error) {
	if len(k) != 4 {
		return 0, fmt.Errorf("payload dictionary key %x is not 4 bytes", k)
	}
	d, err := zstd.InspectDictionary(v)
	if err != nil {
		return 0, fmt.Errorf("payload dictionary %x: %w", k, err)
	}
	id := binary.BigEndian.Uint32(k)
	if d.ID() != id {
		return 0, fmt.Errorf("payload dictionary under id %d says it is %d", id, d.ID())
	}
	return id, nil
}

// encode is the stored form of a body: one zstd frame. Ingest calls it
// before it joins a commit, so compression happens outside the write lock.
// It reports whether the frame names a dictionary.
func (c *payloadCodec) encode(body []byte) (stored []byte, withDict bool) {
	enc := c.enc.Load()
	return enc.EncodeAll(body, make([]byte, 0, len(body)/4+64)), enc.id != 0
}

// decode returns the body of a stored payload (a zstd frame, or a raw body
// stored by an earlier version) in memory of its own: the result outlives
// the transaction it was read in. A frame that names a dictionary this
// codec has not loaded yet has it loaded from tx, which holds it (it was
// committed before any payload compressed against it).
func (c *payloadCodec) decode(tx *bolt.Tx, stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, zstdMagic) {
		return bytes.Clone(stored), nil
	}
	var h zstd.Header
	if err := h.Decode(stored); err != nil {
		return nil, fmt.Errorf("stored payload does not decompress: %w", err)
	}
	c.mu.Lock()
	known, dec := h.DictionaryID == 0 || c.ids[h.DictionaryID], c.dec
	c.mu.Unlock()
	if !known && tx != nil {
		if err := c.load(tx); err != nil {
			return nil, err
		}
		c.mu.Lock()
		dec = c.dec
		c.mu.Unlock()
	}
	body, err := dec.DecodeAll(stored, nil)
	if err != nil {
		return nil, fmt.Errorf("stored payload does not decompress: %w", err)
	}
	return body, nil
}

// plainCodec reads payloads without a dictionary: those of the migrations
// that run before schema version 13 (no store had a dictionary then).
var plainCodec = sync.OnceValues(newPayloadCodec)

// decodePayload reads a payload compressed without a dictionary, or raw.
func decodePayload(stored []byte) ([]byte, error) {
	c, err := plainCodec()
	if err != nil {
		return nil, err
	}
	return c.decode(nil, stored)
}

// putPayload stores an event's payload, already encoded, under its key.
func putPayload(tx *bolt.Tx, k, stored []byte) error {
	b := tx.Bucket(payloadsBucket)
	b.FillPercent = eventFillPercent // written once, keys only grow
	return b.Put(k, stored)
}

// payload reads the body stored under k (nil when none is).
func (s *Store) payload(tx *bolt.Tx, k []byte) ([]byte, error) {
	v := tx.Bucket(payloadsBucket).Get(k)
	if v == nil {
		return nil, nil
	}
	return s.codec.decode(tx, v)
}

// afterIngest counts a payload compressed without a dictionary and, once
// there are dictTrainAfter of them and the store has none, trains one in the
// background (at most one training at a time; after a failed one, the
// next waits for twice as many payloads more, up to 1,024 times as many).
func (s *Store) afterIngest(usedDict bool) {
	c := s.codec
	if usedDict || c.stored.Add(1) < dictTrainAfter<<min(c.failed.Load(), 10) || !c.training.CompareAndSwap(false, true) {
		return
	}
	if c.enc.Load().id != 0 {
		// Compressed before a training that has finished since: the store
		// has its dictionary.
		c.training.Store(false)
		return
	}
	if !s.background(func() {
		defer c.training.Store(false)
		if err := s.trainDict(); err != nil {
			c.failed.Add(1)
			c.stored.Store(0)
		}
	}) {
		c.training.Store(false)
	}
}

// trainDict builds a dictionary from the newest dictTrainAfter payloads
// (outside the write lock), stores it, and compresses against it from
// then on.
func (s *Store) trainDict() error {
	var samples [][]byte
	id := uint32(1)
	err := s.view(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(payloadDictsBucket).Cursor().Last(); k != nil {
			id = binary.BigEndian.Uint32(k) + 1 // only training adds one, one at a time
		}
		cur := tx.Bucket(payloadsBucket).Cursor()
		for k, v := cur.Last(); k != nil && len(samples) < dictTrainAfter; k, v = cur.Prev() {
			body, err := s.codec.decode(tx, v)
			if err != nil {
				return err
			}
			samples = append(samples, body)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(samples) < dictTrainAfter/2 {
		return fmt.Errorf("%d payloads: too few to train a dictionary", len(samples))
	}
	// The content: the newest payloads, up to dictHistory bytes, oldest
	// first (the nearest content is the cheapest to refer to).
	var history []byte
	for i := len(samples) - 1; i >= 0; i-- {
		history = append(history, samples[i]...)
	}
	history = history[max(len(history)-dictHistory, 0):]
	dict, err := zstd.BuildDict(zstd.BuildDictOptions{ID: id, Contents: samples, History: history,
		Offsets: [3]int{1, 4, 8}, Level: zstd.SpeedFastest})
	if err != nil {
		return fmt.Errorf("train a payload dictionary: %w", err)
	}
	if _, err := dictID(binary.BigEndian.AppendUint32(nil, id), dict); err != nil {
		return err
	}
	if err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(payloadDictsBucket).Put(binary.BigEndian.AppendUint32(nil, id), dict)
	}); err != nil {
		return err
	}
	// The encoder changes once the dictionary is committed: no payload
	// names it before it is stored.
	return s.view(s.codec.load)
}

// verifyPayloadDicts checks that every dictionary is one, under its own
// id, and that every payload that names a dictionary names a stored one.
func verifyPayloadDicts(tx *bolt.Tx) error {
	ids := map[uint32]bool{}
	if err := tx.Bucket(payloadDictsBucket).ForEach(func(k, v []byte) error {
		id, err := dictID(k, v)
		ids[id] = true
		return err
	}); err != nil {
		return err
	}
	return tx.Bucket(payloadsBucket).ForEach(func(k, v []byte) error {
		if !bytes.HasPrefix(v, zstdMagic) {
			return nil
		}
		var h zstd.Header
		if err := h.Decode(v); err != nil {
			return fmt.Errorf("payload of event #%d: %w", btoi(k), err)
		}
		if h.DictionaryID != 0 && !ids[h.DictionaryID] {
			return fmt.Errorf("payload of event #%d is compressed against dictionary %d, which is not stored", btoi(k), h.DictionaryID)
		}
		return nil
	})
}
