package storage

import (
	"bytes"
	"fmt"

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

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// maxPayload bounds a decoded payload; the receiver refuses bodies over 1
// MiB, so anything larger is damage, not an event.
const maxPayload = 8 << 20

var (
	payloadEncoder, _ = zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
	payloadDecoder, _ = zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(maxPayload))
)

// encodePayload is the stored form of a body: one zstd frame. Ingest calls
// it before it joins a commit, so compression happens outside the write
// lock.
func encodePayload(body []byte) []byte {
	return payloadEncoder.EncodeAll(body, make([]byte, 0, len(body)/3+64))
}

// decodePayload returns the body of a stored payload (a zstd frame, or a
// raw body stored by an earlier version) in memory of its own: the result
// outlives the transaction it was read in.
func decodePayload(stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, zstdMagic) {
		return bytes.Clone(stored), nil
	}
	body, err := payloadDecoder.DecodeAll(stored, nil)
	if err != nil {
		return nil, fmt.Errorf("stored payload does not decompress: %w", err)
	}
	return body, nil
}

// putPayload stores an event's payload, already encoded, under its key.
func putPayload(tx *bolt.Tx, k, stored []byte) error {
	b := tx.Bucket(payloadsBucket)
	b.FillPercent = eventFillPercent // written once, keys only grow
	return b.Put(k, stored)
}

// payload reads the body stored under k (nil when none is).
func payload(tx *bolt.Tx, k []byte) ([]byte, error) {
	v := tx.Bucket(payloadsBucket).Get(k)
	if v == nil {
		return nil, nil
	}
	return decodePayload(v)
}
