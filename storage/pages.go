package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// bbolt's file layout (go.etcd.io/bbolt/internal/common), native byte order,
// which is little-endian on every platform creditdesk ships for.
const (
	pageHeaderSize  = 16 // id u64, flags u16, count u16, overflow u32
	elementSize     = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	inBucketSize    = 16 // root pgid u64, sequence u64
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	freelistFlag    = 0x10
	noFreelist      = 0xFFFFFFFFFFFFFFFF // the meta's freelist when it is not written
	bucketLeafFlag  = 0x01
	metaMagic       = 0xED0CDAED
	metaChecksumEnd = 56 // the checksum covers the meta fields before it
)

var le = binary.LittleEndian

// pageWalk reads the pages of the B+trees through a file handle of its own
// (pread, never the memory map), checking that every page id, element and
// key lies inside the file. bbolt's own check (tx.Check) runs on a
// goroutine where a read past the mapped file is a crash, not a panic this
// package can catch; after pageWalk, every byte it will read is known to be
// in the file.
type pageWalk struct {
	f        *os.File
	size     int64
	pageSize int64
	high     uint64 // the meta's high-water page id: pages are below it
	seen     map[uint64]bool
	// edges, when set, follows only the first and the last child of a
	// branch page below the root bucket's: the pages a cursor's First and
	// Last read, which is what Open's check makes bbolt read.
	edges bool
}

// checkLayout runs pageWalk over the file as tx sees it.
func checkLayout(tx *bolt.Tx, path string) error { return walkLayout(tx, path, false) }

// checkEdges runs pageWalk over the root bucket and, in every bucket, the
// pages from its root to its first and its last leaf: cheap enough for
// every Open, and what Open's check reads through bbolt next.
func checkEdges(tx *bolt.Tx, path string) error { return walkLayout(tx, path, true) }

func walkLayout(tx *bolt.Tx, path string, edges bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	w := &pageWalk{f: f, size: fi.Size(), pageSize: int64(tx.DB().Info().PageSize), seen: map[uint64]bool{}, edges: edges}
	root, freelist, err := w.meta(uint64(tx.ID()))
	if err != nil {
		return err
	}
	if err := w.freelist(freelist); err != nil {
		return err
	}
	return w.tree(root, 0)
}

// freelist checks the header of the freelist page the meta names, which
// bbolt's check asserts on (its id and type) before anything else: on its
// goroutine a scribbled one is a crash.
func (w *pageWalk) freelist(id uint64) error {
	if id == noFreelist {
		return nil
	}
	b, err := w.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := le.Uint16(b[8:]); flags != freelistFlag {
		return fmt.Errorf("freelist page %d: not a freelist page (flags %#x)", id, flags)
	}
	return nil
}

// meta reads both meta pages and returns the root page and the freelist
// page of the newest valid one up to transaction txid: the one the
// transaction reads (a read transaction's id is its meta's; a write
// transaction's is one more).
func (w *pageWalk) meta(txid uint64) (root, freelist uint64, err error) {
	var best uint64
	found := false
	for i := int64(0); i < 2; i++ {
		b := make([]byte, pageHeaderSize+64)
		if _, err := w.f.ReadAt(b, i*w.pageSize); err != nil {
			continue
		}
		m := b[pageHeaderSize:]
		h := fnv.New64a()
		_, _ = h.Write(m[:metaChecksumEnd])
		if le.Uint32(m[0:]) != metaMagic || h.Sum64() != le.Uint64(m[56:]) {
			continue
		}
		if id := le.Uint64(m[48:]); id <= txid && (!found || id > best) {
			best, found = id, true
			root, freelist, w.high = le.Uint64(m[16:]), le.Uint64(m[32:]), le.Uint64(m[40:])
		}
	}
	if !found {
		return 0, 0, errors.New("neither meta page is valid")
	}
	if int64(w.high)*w.pageSize > w.size {
		return 0, 0, fmt.Errorf("truncated: the file is %d bytes, its pages need %d", w.size, int64(w.high)*w.pageSize)
	}
	return root, freelist, nil
}

// page reads page id with its overflow pages.
func (w *pageWalk) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.high {
		return nil, fmt.Errorf("page %d is outside the file's %d pages", id, w.high)
	}
	if w.seen[id] {
		return nil, fmt.Errorf("page %d is reached twice", id)
	}
	w.seen[id] = true
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id)*w.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := le.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if id+overflow >= w.high {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the file's %d pages", id, overflow, w.high)
	}
	b := make([]byte, int64(overflow+1)*w.pageSize)
	if _, err := w.f.ReadAt(b, int64(id)*w.pageSize); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return b, nil
}

// tree checks the B+tree rooted at page id.
func (w *pageWalk) tree(id uint64, depth int) error {
	if depth > 64 {
		return fmt.Errorf("page %d: trees nested %d deep", id, depth)
	}
	b, err := w.page(id)
	if err != nil {
		return err
	}
	return w.elements(b, fmt.Sprintf("page %d", id), depth)
}

// elements checks the elements of one page (or an inline bucket's page, held
// in a value) and walks what they point at.
func (w *pageWalk) elements(b []byte, where string, depth int) error {
	if len(b) < pageHeaderSize {
		return fmt.Errorf("%s: %d bytes, shorter than a page header", where, len(b))
	}
	flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
	if flags != branchPageFlag && flags != leafPageFlag {
		return fmt.Errorf("%s: not a branch or leaf page (flags %#x)", where, flags)
	}
	if pageHeaderSize+count*elementSize > len(b) {
		return fmt.Errorf("%s: %d elements do not fit in %d bytes", where, count, len(b))
	}
	for i := range count {
		off := pageHeaderSize + i*elementSize
		e := b[off : off+elementSize]
		switch flags {
		case branchPageFlag:
			pos, ksize, child := int(le.Uint32(e[0:])), int(le.Uint32(e[4:])), le.Uint64(e[8:])
			if off+pos+ksize > len(b) || ksize == 0 {
				return fmt.Errorf("%s: branch key %d lies outside the page", where, i)
			}
			if w.edges && depth > 0 && i != 0 && i != count-1 {
				if child < 2 || child >= w.high {
					return fmt.Errorf("%s: branch element %d points to page %d, outside the file's %d pages", where, i, child, w.high)
				}
				continue
			}
			if err := w.tree(child, depth+1); err != nil {
				return err
			}
		case leafPageFlag:
			eflags, pos, ksize, vsize := le.Uint32(e[0:]), int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
			start := off + pos
			if ksize == 0 || start+ksize+vsize > len(b) || start+ksize+vsize < start {
				return fmt.Errorf("%s: leaf element %d lies outside the page", where, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := b[start+ksize : start+ksize+vsize]
			if len(v) < inBucketSize {
				return fmt.Errorf("%s: bucket %q has a %d-byte header", where, b[start:start+ksize], len(v))
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.tree(root, depth+1); err != nil {
					return err
				}
			} else if err := w.elements(v[inBucketSize:], fmt.Sprintf("%s: inline bucket %q", where, b[start:start+ksize]), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
