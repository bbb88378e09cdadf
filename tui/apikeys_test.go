package tui

import (
	"strings"
	"testing"

	"creditdesk/billing"
)

func TestAPIKeysPane(t *testing.T) {
	f := newFake()
	d := newDriver(t, f, Options{}, 100, 24)
	d.press("6")
	if !strings.Contains(d.tabBar(), "[6 API keys]") {
		t.Fatalf("tab bar %q", d.tabBar())
	}
	d.expect("no keys yet")

	// c opens the name input, which holds the keyboard: q types q. Enter
	// without a name says so and leaves the input open; the name is trimmed.
	d.press("c")
	d.typeText("  ")
	d.press("enter")
	d.expect("a key needs a name")
	if ks, _ := f.ListAPIKeys(); len(ks) != 0 {
		t.Fatalf("a key without a name was created: %+v", ks)
	}
	d.typeText("backend-q ")
	if d.quit {
		t.Fatal("q in the name input quit the console")
	}
	d.press("enter")
	v := d.expect("shown only this once")
	ks, _ := f.ListAPIKeys()
	if len(ks) != 1 || ks[0].Name != "backend-q" {
		t.Fatalf("keys %+v", ks)
	}
	plain := "cdk_" + strings.Repeat("backend-q", 8)[:64]
	if !strings.Contains(v, plain) {
		t.Fatalf("the new key is not shown whole:\n%s", v)
	}
	// Dismissed, it is gone for good; the list shows only the hint.
	d.press("esc")
	v = d.expect("active")
	if strings.Contains(v, plain) || !strings.Contains(v, ks[0].Hint) {
		t.Fatalf("after dismissing:\n%s", v)
	}

	// A taken name is an error on the status line.
	d.press("c")
	d.typeText("backend-q")
	d.press("enter")
	d.expect(billing.ErrKeyExists.Error()[:20])

	// r asks first; n keeps the key, y revokes it.
	d.press("r")
	d.expect("Revoke backend-q?")
	d.press("n")
	if ks, _ := f.ListAPIKeys(); ks[0].Revoked() {
		t.Fatal("revoked without a yes")
	}
	d.press("r", "y")
	d.expect("revoked")
	if ks, _ := f.ListAPIKeys(); !ks[0].Revoked() {
		t.Fatal("y did not revoke")
	}
	// A revoked key cannot be revoked again.
	d.press("r")
	if strings.Contains(d.view(), "Revoke backend-q?") {
		t.Fatal("offered to revoke a revoked key")
	}
}

func TestAPIKeyWrapsOnNarrowScreen(t *testing.T) {
	f := newFake()
	d := newDriver(t, f, Options{}, 40, 20)
	d.press("6", "c")
	d.typeText("k")
	d.press("enter")
	v := d.expect("Copy it now")
	plain := "cdk_" + strings.Repeat("k", 64)
	if joined := strings.ReplaceAll(strings.ReplaceAll(v, "\n", ""), " ", ""); !strings.Contains(joined, plain) {
		t.Fatalf("the key was cut on a 40-column screen:\n%s", v)
	}
	if n := len(strings.Split(v, "\n")); n != 20 {
		t.Fatalf("screen has %d lines, want 20", n)
	}
}
