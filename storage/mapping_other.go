//go:build !linux

package storage

import bolt "go.etcd.io/bbolt"

// unmapPages does nothing here: the memory map is left to the kernel.
func unmapPages(*bolt.DB) error { return nil }
