package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"creditdesk/internal/simulate"
)

// runSimulate is `creditdesk simulate`: signed simulated Stripe events sent
// to a running receiver, a load generator. A run where no event was
// acknowledged says why in one line.
func runSimulate(env *Env, args []string) error {
	fs := newFlags(env, "simulate")
	cfg := simulate.Config{}
	fs.StringVar(&cfg.URL, "url", "http://"+env.Config.Addr+env.Config.WebhookPath, "webhook URL")
	// The secret is never a flag: a command line is visible to every user
	// in ps. It comes from the environment (.env) or a file.
	secretFile := fs.String("secret-file", "", "read the webhook signing secret from FILE (default: STRIPE_WEBHOOK_SECRET)")
	cfg.Secret = env.Config.WebhookSecret
	fs.IntVar(&cfg.Count, "count", 100, "events to send")
	fs.Float64Var(&cfg.Rate, "rate", 0, "events per second (0: as fast as possible)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "requests in flight")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long")
	fs.BoolVar(&cfg.Load, "load", false, "only independent pack checkouts (load testing)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "event stream seed (0: random)")
	corpus := fs.String("corpus", "", "replay the real Stripe events in `DIR` (one JSON event a file), each with a fresh id; implies --load")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("simulate --secret-file: %v", err)}
		}
		cfg.Secret = strings.TrimSpace(string(b))
	}
	if secrets := strings.Split(cfg.Secret, ","); cfg.Secret != "" {
		cfg.Secret = strings.TrimSpace(secrets[0])
	} else {
		return &exitError{code: 2, msg: "simulate needs the receiver's signing secret: set STRIPE_WEBHOOK_SECRET or pass --secret-file FILE"}
	}
	if *corpus != "" {
		c, err := simulate.LoadCorpus(*corpus)
		if err != nil {
			return &exitError{code: 2, msg: "simulate --corpus: " + strings.TrimPrefix(err.Error(), "corpus: ")}
		}
		cfg.Corpus = c
	}
	ctx, cancel := signalContext()
	defer cancel()
	rep, err := simulate.Run(ctx, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if rep.Sent > 0 && rep.Errors == rep.Sent {
		why := strings.TrimPrefix(rep.FirstError, fmt.Sprintf("Post %q: ", cfg.URL))
		return &exitError{code: 1, msg: fmt.Sprintf("no response from %s: %s (is creditdesk running there?)", cfg.URL, why)}
	}
	fmt.Fprintln(env.Stdout, rep.String())
	if rep.OK < rep.Sent {
		msg := fmt.Sprintf("%d of %d events were not acknowledged", rep.Sent-rep.OK, rep.Sent)
		switch {
		case rep.ByStatus[400] > 0:
			msg += "; 400 means the receiver refused the signature: sign with the receiver's own STRIPE_WEBHOOK_SECRET"
		case rep.ByStatus[404] > 0:
			msg += "; 404 means nothing listens at that path: the receiver's path is /api/stripe/webhook"
		}
		return &exitError{code: 1, msg: msg}
	}
	return nil
}
