package tui

import (
	"errors"
	"testing"
)

func TestSubmissionKeepsItsKeyForTheSameRequest(t *testing.T) {
	var s submission
	s.prepare("grant 5")
	first := s.key
	if first == "" || !s.start() || s.start() {
		t.Fatalf("key %q; want a key, one request out and a second refused", first)
	}
	if s.answer("console:other", nil) || !s.pending {
		t.Fatal("took an answer to another request")
	}
	if !s.answer(first, errors.New("timeout")) || s.pending || s.err == nil {
		t.Fatal("did not take its own answer")
	}
	s.prepare("grant 5")
	if s.key != first || s.err == nil {
		t.Errorf("a retry of the same request got key %q (first %q) or lost the error", s.key, first)
	}
	s.prepare("grant 6")
	if s.key == first || s.err != nil {
		t.Errorf("an edited request kept the key or the old error")
	}
	edited := s.key
	s.renew()
	s.prepare("grant 6")
	if s.key == edited {
		t.Errorf("after renew the same request kept its key")
	}
}
