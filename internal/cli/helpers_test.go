package cli

import (
	"bytes"
	"creditdesk/internal/testkit"
	"testing"

	"creditdesk/internal/config"
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
