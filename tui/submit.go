package tui

// submission is the one request a form sends at a time, with its
// idempotency key. The key stays while the request stays the same, so a
// retry after a failure or a lost answer (a double y, a timeout) is the
// same request to billing or Stripe and is applied at most once; a changed
// request gets a key of its own. While a request is out nothing more is
// sent. Forms embed it: f.key, f.pending and f.err are the submission's.
type submission struct {
	key     string
	sig     string // the request key belongs to
	pending bool   // a request is out
	err     error  // what the last answer said
}

// prepare gives request sig its key: the same as before for the same
// request, a new one for another.
func (s *submission) prepare(sig string) {
	if s.key == "" || sig != s.sig {
		s.key, s.sig, s.err = newIdempotencyKey(), sig, nil
	}
}

// renew gives the next request a new key whatever it is: the last one went
// through.
func (s *submission) renew() { s.key, s.sig = "", "" }

// start reports whether a request may go out now, and marks it out.
func (s *submission) start() bool {
	if s.pending {
		return false
	}
	s.pending, s.err = true, nil
	return true
}

// answer takes the answer to the request with key; it reports false for an
// answer to a request this submission did not send or no longer waits for.
func (s *submission) answer(key string, err error) bool {
	if key != s.key || !s.pending {
		return false
	}
	s.pending, s.err = false, err
	return true
}
