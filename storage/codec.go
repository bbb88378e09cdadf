package storage

import (
	"encoding/binary"
	"time"
)

// The pieces the binary record layouts are made of (each record kind's file
// states its layout): a string is a uvarint length then its bytes; a time
// is a varint of unix seconds then a uvarint of nanoseconds, read back in
// UTC; an optional time is a byte, 0 for the zero time, else 1 and a time.

// recordWriter writes a binary record's fields in order, in the pieces
// above; its reads are recordReader's, method for method.
type recordWriter struct{ b []byte }

// newRecordWriter starts a record with its version byte; size is a guess
// of the record's length, so most records are written without growing.
func newRecordWriter(version byte, size int) recordWriter {
	return recordWriter{b: append(make([]byte, 0, size), version)}
}

func (w *recordWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *recordWriter) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *recordWriter) byte(c byte)      { w.b = append(w.b, c) }

func (w *recordWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}

// strs is a uvarint count, then each string.
func (w *recordWriter) strs(ss []string) {
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

// bool is a byte, 0 or 1.
func (w *recordWriter) bool(v bool) {
	if v {
		w.byte(1)
	} else {
		w.byte(0)
	}
}

func (w *recordWriter) time(t time.Time) {
	w.varint(t.Unix())
	w.uvarint(uint64(t.Nanosecond()))
}

func (w *recordWriter) optTime(t time.Time) {
	if t.IsZero() {
		w.byte(0)
		return
	}
	w.byte(1)
	w.time(t)
}

// record is the bytes written so far.
func (w *recordWriter) record() []byte { return w.b }

// recordReader reads a binary record's fields in order; the first short or
// impossible field sets err to bad, and every later read returns zero.
type recordReader struct {
	b   []byte
	bad error // the error for a record that is not its layout
	err error
}

func (r *recordReader) fail() {
	if r.err == nil {
		r.err = r.bad
	}
}

func (r *recordReader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }
func (r *recordReader) varint() int64   { return readVarint(r, binary.Varint) }

// readVarint reads one number with decode (binary.Uvarint or Varint).
func readVarint[T uint64 | int64](r *recordReader, decode func([]byte) (T, int)) T {
	if r.err != nil {
		return 0
	}
	v, n := decode(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// bytes reads a string's bytes in place: they are the record's, valid as
// long as it is.
func (r *recordReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *recordReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// bool reads a byte that must be 0 or 1.
func (r *recordReader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail()
	return false
}

// strs reads a uvarint count, then that many strings; no strings read as nil.
func (r *recordReader) strs() []string {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(r.b)) { // each string takes a byte at least
		r.fail()
		return nil
	}
	ss := make([]string, 0, n)
	for range n {
		ss = append(ss, r.str())
	}
	return ss
}

func (r *recordReader) time() time.Time {
	s, ns := r.varint(), r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if ns >= 1e9 {
		r.fail()
		return time.Time{}
	}
	return time.Unix(s, int64(ns)).UTC()
}

func (r *recordReader) optTime() time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
		return r.time()
	}
	r.fail()
	return time.Time{}
}

// newRecordReader reads the record v whose first byte must be version; a
// record without it reads as bad from the start.
func newRecordReader(v []byte, version byte, bad error) *recordReader {
	if len(v) == 0 || v[0] != version {
		return &recordReader{bad: bad, err: bad}
	}
	return &recordReader{b: v[1:], bad: bad}
}

// decoded returns rec once nothing follows its last field, else T's zero
// value and the reader's error.
func decoded[T any](r *recordReader, rec T) (T, error) {
	if err := r.end(); err != nil {
		var zero T
		return zero, err
	}
	return rec, nil
}

// end checks that nothing follows the last field, and returns the error.
func (r *recordReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return r.err
}
