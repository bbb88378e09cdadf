package billing_test

import (
	"os"
	"strings"
	"testing"

	. "creditdesk/billing"
)

// The README's list of events to enable must name every event the rules
// handle, or founders who set up the endpoint by hand miss some.
func TestReadmeListsEveryHandledEvent(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	words := map[string]bool{}
	for _, w := range strings.Fields(string(raw)) {
		words[strings.Trim(w, "`,.")] = true
	}
	for _, ev := range HandledEvents {
		if !words[ev] {
			t.Errorf("README does not list %s", ev)
		}
	}
}
