package storage

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// ProbeWrite commits one small write (now, under meta's "write_probe"), to
// find out whether writes work again when nothing else is waiting to be
// written.
func (s *Store) ProbeWrite(now time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).Put([]byte("write_probe"), itob(uint64(now.UnixNano())))
	})
}
