package cli

import (
	"bytes"
	"testing"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

// testApp starts the app in-process with cfg and opt: on a free loopback
// port and the usual webhook path unless cfg says otherwise, logging
// nowhere unless opt does. The caller stops it.
func testApp(t *testing.T, cfg config.Config, opt appOptions) *app {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.WebhookPath == "" {
		cfg.WebhookPath = "/api/stripe/webhook"
	}
	if opt.log == nil {
		opt.log = discardLogger()
	}
	a, err := startApp(&Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Config: cfg}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// syncBuffer is a buffer the test and goroutines share.
type syncBuffer = testkit.SyncBuffer

// openTestStore opens the database db, to seed or read it around a command
// that runs on the file: the caller closes it (it holds the file's lock).
func openTestStore(t *testing.T, db string) *storage.Store {
	t.Helper()
	return testkit.OpenStore(t, db, storage.Options{})
}

// openSample is openTestStore with a service over the sample catalog.
func openSample(t *testing.T, db string) (*storage.Store, *billing.Service) {
	t.Helper()
	st := openTestStore(t, db)
	return st, billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: billing.SampleCatalog()}})
}
