package storage

import (
	"errors"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// IsWriteFault reports whether err is the disk refusing a write: full
// (ENOSPC, EDQUOT), failing (EIO) or mounted read-only (EROFS). Nothing of
// the transaction was written, and the same write can succeed later,
// unchanged: it is a reason to wait, never to give up on an event.
func IsWriteFault(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS)
}

// ProbeWrite commits one small write (now, under meta's "write_probe"), to
// find out whether writes work again when nothing else is waiting to be
// written.
func (s *Store) ProbeWrite(now time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).Put([]byte("write_probe"), itob(uint64(now.UnixNano())))
	})
}
