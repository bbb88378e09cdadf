package storage

// What paid for a purchase, added in schema version 6 (before, kv "pi:ID"
// and "charge:ID" holding the purchase id as a JSON string).
var (
	// paymentIntentsBucket maps a Stripe payment intent id to the id of
	// the purchase it paid for (raw bytes).
	paymentIntentsBucket = []byte("payment_intents")
	// chargesBucket maps a Stripe charge id to the id of the purchase it
	// paid for (raw bytes).
	chargesBucket = []byte("charges")
)

// PaymentIntentPurchase returns the purchase a payment intent paid, or "".
func (t *Tx) PaymentIntentPurchase(pi string) (string, error) {
	return t.ref(paymentIntentsBucket, pi), nil
}

// ChargePurchase returns the purchase a charge paid, or "".
func (t *Tx) ChargePurchase(charge string) (string, error) {
	return t.ref(chargesBucket, charge), nil
}

// PutPaymentIntent records the purchase a payment intent paid.
func (t *Tx) PutPaymentIntent(pi, purchaseID string) error {
	return t.putRef(paymentIntentsBucket, pi, purchaseID)
}

// PutCharge records the purchase a charge paid.
func (t *Tx) PutCharge(charge, purchaseID string) error {
	return t.putRef(chargesBucket, charge, purchaseID)
}

func (t *Tx) ref(bucket []byte, id string) string {
	if id == "" {
		return ""
	}
	return string(t.tx.Bucket(bucket).Get([]byte(id)))
}

func (t *Tx) putRef(bucket []byte, id, to string) error {
	if id == "" {
		return nil
	}
	return t.tx.Bucket(bucket).Put([]byte(id), []byte(to))
}
