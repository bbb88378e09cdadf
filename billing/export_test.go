package billing

import (
	"context"
	"time"
)

// Handles for the tests in package billing_test on what they tune or drive
// inside a Service.

// SetFaultBackoffBase sets the first wait after a store fault.
func (s *Service) SetFaultBackoffBase(d time.Duration) { s.faults.base = d }

// FaultBackoffBase is the first wait after a store fault.
func (s *Service) FaultBackoffBase() time.Duration { return s.faults.base }

// FaultBackoff is the wait before attempt n+1 after n faults.
var FaultBackoff = faultBackoff

// SetWaitLimit sets how long an event may wait for a missing piece.
func (s *Service) SetWaitLimit(d time.Duration) { s.wait = d }

// ProcessDueOnce runs one pass of the processor over what is due.
func (s *Service) ProcessDueOnce(ctx context.Context) error {
	_, err := s.processOnce(ctx, pickDue, 0)
	return err
}

// PurchaseType is what the rules resolve a checkout to.
func (r Rules) PurchaseType(obj Obj, items *LineItems) (resolved, bool) {
	return r.purchaseType(obj, items)
}

// ObjOf is the Obj of the object m, for tests that build one by hand.
var ObjOf = objOf
