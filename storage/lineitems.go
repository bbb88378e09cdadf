package storage

import "creditdesk/billing"

// lineItemsBucket maps a checkout session id to its line items as read
// from the Stripe API (billing.LineItems, JSON). Added in schema version 6
// (before, kv "lineitems:ID").
var lineItemsBucket = []byte("line_items")

// LineItems returns a session's cached line items.
func (t *Tx) LineItems(sessionID string) (billing.LineItems, bool, error) {
	return get[billing.LineItems](t.tx.Bucket(lineItemsBucket), []byte(sessionID))
}

// PutLineItems caches a session's line items.
func (t *Tx) PutLineItems(sessionID string, items billing.LineItems) error {
	return putJSON(t.tx.Bucket(lineItemsBucket), []byte(sessionID), items)
}
