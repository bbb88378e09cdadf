package cli

import (
	"context"
	"log/slog"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/appwebhook"
	"creditdesk/internal/config"
)

// appWebhookConfig turns the configured endpoints into billing's outbox
// settings and the sender's endpoints.
func appWebhookConfig(h config.AppWebhooks, r billing.Rules) (billing.OutboxConfig, []appwebhook.Endpoint) {
	var out billing.OutboxConfig
	var eps []appwebhook.Endpoint
	for _, e := range h.Endpoints {
		id := appwebhook.EndpointID(e.URL)
		out.Endpoints = append(out.Endpoints, billing.AppEndpoint{ID: id, URL: e.URL, Events: e.Events})
		eps = append(eps, appwebhook.Endpoint{ID: id, URL: e.URL, AllowPrivate: e.AllowPrivate})
	}
	out.LowCredits = h.LowCredits
	out.KeepDelivered = time.Duration(h.KeepDeliveriesDays) * 24 * time.Hour // 0: billing.KeepDelivered
	out.Features = r.Catalog.TierFeatures
	return out, eps
}

// startSender runs the app webhooks' sender until ctx ends; the channel
// is closed when it has stopped. With no endpoint it is closed at once.
func startSender(ctx context.Context, svc *billing.Service, eps []appwebhook.Endpoint, dbPath string, log *slog.Logger) chan struct{} {
	done := make(chan struct{})
	if len(eps) == 0 {
		close(done)
		return done
	}
	path := appwebhook.SecretPath(dbPath)
	if s, err := appwebhook.LoadSecrets(path, time.Now()); err != nil || len(s) == 0 {
		log.Warn("app webhooks: no signing secret yet; messages wait until there is one: run creditdesk appwebhook secret", "file", path)
	}
	for _, ep := range eps {
		log.Info("app webhooks", "endpoint", ep.ID, "url", config.MaskURL(ep.URL), "allow_private", ep.AllowPrivate)
	}
	s := appwebhook.New(appwebhook.Options{Outbox: svc, Endpoints: eps, Log: log,
		Secrets: func() ([]string, error) { return appwebhook.LoadSecrets(path, time.Now()) }})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	return done
}
