package storage

import (
	"time"

	"creditdesk/billing"
)

// Observer is told about what the store committed, for metrics: each
// read-write transaction's duration (the fsync included) and each ledger
// entry a committed transaction wrote. It is called after the commit, never
// for a transaction that was rolled back, and must not block.
type Observer interface {
	Committed(d time.Duration, err error)
	EntryWritten(e billing.Entry)
}

// noteEntry tells the observer about e once the transaction commits.
func (t *Tx) noteEntry(e billing.Entry) {
	if t.obs != nil {
		obs := t.obs
		t.tx.OnCommit(func() { obs.EntryWritten(e) })
	}
}
