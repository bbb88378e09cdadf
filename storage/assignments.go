package storage

// assignmentsBucket maps a purchase id to the purchase type an operator
// assigned to it (raw bytes). Added in schema version 6 (before, kv
// "assign:ID" holding a JSON string).
var assignmentsBucket = []byte("assignments")

// Assignment returns the purchase type assigned to a purchase.
func (t *Tx) Assignment(purchaseID string) (string, bool, error) {
	v := t.tx.Bucket(assignmentsBucket).Get([]byte(purchaseID))
	return string(v), v != nil, nil
}

// PutAssignment records the purchase type assigned to a purchase.
func (t *Tx) PutAssignment(purchaseID, purchaseType string) error {
	return t.tx.Bucket(assignmentsBucket).Put([]byte(purchaseID), []byte(purchaseType))
}
