package testkit

import (
	"path/filepath"
	"testing"

	"creditdesk/billing"
	"creditdesk/storage"
)

// OpenStore opens (or creates) the database at path with opts, failing the
// test when it cannot, and closes it when the test ends. A test may close
// it earlier, to reopen the file or hand it to a command; the second Close
// does nothing.
func OpenStore(t testing.TB, path string, opts storage.Options) *storage.Store {
	t.Helper()
	st, err := storage.Open(path, opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TempStore is OpenStore on a new database in the test's temporary
// directory, with the default options.
func TempStore(t testing.TB) *storage.Store {
	t.Helper()
	return OpenStore(t, filepath.Join(t.TempDir(), "test.db"), storage.Options{})
}

// SampleService is a billing.Service over the sample catalog
// (billing.SampleCatalog), on a TempStore, with the real clock.
func SampleService(t testing.TB) (*billing.Service, *storage.Store) {
	t.Helper()
	st := TempStore(t)
	return billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: billing.SampleCatalog()}}), st
}
