package storage

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// unmapPages drops the pages of bbolt's memory map from this process's
// page tables (madvise MADV_DONTNEED). The map is read-only and shared
// with the file (bbolt writes with pwrite), so nothing is lost: the data
// stays in the kernel's page cache and the next read of a page maps it
// again. It runs inside a read transaction, which holds bbolt's map lock,
// so the map cannot be replaced (grown) while the call is made.
func unmapPages(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		info := db.Info()
		if info == nil || info.Data == 0 || tx.Size() == 0 {
			return nil
		}
		// tx.Size() is the database's size in bytes, a whole number of pages
		// and never more than the map.
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, info.Data, uintptr(tx.Size()), syscall.MADV_DONTNEED); errno != 0 {
			return errno
		}
		return nil
	})
}
