// Package metrics serves creditdesk's Prometheus metrics on their own
// listener (never the public one: the figures are business data). Counters
// come from where things happen (the store's commits and ledger entries,
// the API's requests) or are read from the billing service at scrape time
// (webhooks, events, backlog, backups), so they are exact, not sampled from
// the live feed.
package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"creditdesk/billing"
)

// Metrics is creditdesk's registry.
type Metrics struct {
	reg     *prometheus.Registry
	commit  prometheus.Histogram
	commitE prometheus.Counter
	api     *prometheus.HistogramVec
	credits *prometheus.CounterVec
}

// New returns the registry with the Go and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "creditdesk_commit_duration_seconds",
		Help:    "Time of one read-write transaction of the store, fsync included.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
	})
	m.commitE = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "creditdesk_commit_errors_total",
		Help: "Read-write transactions that failed for the store's sake (disk full, I/O error, damaged file); refused requests are not counted.",
	})
	m.api = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "creditdesk_api_request_duration_seconds",
		Help:    "Requests to the app's API by route and status.",
		Buckets: []float64{.001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"route", "code"})
	m.credits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "creditdesk_credits_total",
		Help: "Credits moved by committed ledger entries, by change (granted, spent, revoked, expired, clawed_back) and entry kind.",
	}, []string{"change", "kind"})
	m.reg.MustRegister(m.commit, m.commitE, m.api, m.credits,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Committed is storage.Observer: one transaction's duration.
// A transaction its own function refused (not enough credits, an unknown
// event to retry) is not a failure of the store and is not counted as one.
func (m *Metrics) Committed(d time.Duration, err error) {
	if err != nil && billing.IsStoreFault(err) {
		m.commitE.Inc()
		return
	}
	m.commit.Observe(d.Seconds())
}

// EntryWritten is storage.Observer: one committed ledger entry.
func (m *Metrics) EntryWritten(e billing.Entry) {
	if change := Change(e); change != "" {
		m.credits.WithLabelValues(change, string(e.Kind)).Add(float64(abs(e.Delta)))
	}
}

// Change classifies a ledger entry: granted, spent, revoked, expired,
// clawed_back, or "" for a move between records (linking an unlinked
// purchase), which neither adds nor takes credits.
func Change(e billing.Entry) string {
	switch {
	case strings.HasPrefix(e.Key, "link:"):
		return ""
	case e.Delta > 0:
		return "granted"
	case e.Kind == billing.KindSpend:
		return "spent"
	case e.Kind == billing.KindExpire:
		return "expired"
	case e.Kind == billing.KindRefund || e.Kind == billing.KindDispute:
		return "clawed_back"
	}
	return "revoked"
}

// ObserveAPI is webhook.API.Observe.
func (m *Metrics) ObserveAPI(route string, status int, d time.Duration) {
	m.api.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

// Watch adds the figures read from svc at each scrape.
func (m *Metrics) Watch(svc *billing.Service) { m.reg.MustRegister(&serviceCollector{svc: svc}) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Serve listens on addr and serves the metrics until stop is called.
func Serve(addr string, m *Metrics) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics address %s: %w: pick a free port (127.0.0.1:9464)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	// Go's profiles, for finding where serve's time goes (docs/PERFORMANCE.md):
	// on this private listener only, never the public one.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err
		}
	}()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

var (
	descWebhooks = prometheus.NewDesc("creditdesk_webhooks_total",
		"Webhook requests by outcome (accepted, duplicate, rejected) and, for rejected ones, reason.", []string{"outcome", "reason"}, nil)
	descEvents = prometheus.NewDesc("creditdesk_events_total",
		"Stripe events the processor brought to a final state (applied, ignored, failed), by type.", []string{"type", "state"}, nil)
	descBacklog = prometheus.NewDesc("creditdesk_backlog_events",
		"Events received and not yet applied (received or waiting).", nil, nil)
	descOldest = prometheus.NewDesc("creditdesk_backlog_oldest_age_seconds",
		"Age of the oldest event not yet applied; 0 when none waits.", nil, nil)
	descAttention = prometheus.NewDesc("creditdesk_attention_items",
		"Items the Attention tab lists.", nil, nil)
	descBackup = prometheus.NewDesc("creditdesk_last_backup_timestamp_seconds",
		"Unix time of the last backup that verified; absent when none was taken.", nil, nil)
	descUp = prometheus.NewDesc("creditdesk_processor_up",
		"1 while the processor runs.", nil, nil)
)

// serviceCollector reads the billing service at scrape time.
type serviceCollector struct{ svc *billing.Service }

func (c *serviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWebhooks, descEvents, descBacklog, descOldest, descAttention, descBackup, descUp} {
		ch <- d
	}
}

func (c *serviceCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.svc.Stats()
	ch <- prometheus.MustNewConstMetric(descWebhooks, prometheus.CounterValue, float64(st.Received), "accepted", "")
	ch <- prometheus.MustNewConstMetric(descWebhooks, prometheus.CounterValue, float64(st.Duplicates), "duplicate", "")
	for reason, n := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(descWebhooks, prometheus.CounterValue, float64(n), "rejected", reason)
	}
	for k, n := range c.svc.EventOutcomes() {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(n), k.Type, string(k.State))
	}
	ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(st.Pending))
	var age float64
	if oldest, err := c.svc.OldestPending(); err == nil && !oldest.IsZero() {
		age = time.Since(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(descAttention, prometheus.GaugeValue, float64(st.Attention))
	if !st.LastBackup.IsZero() {
		ch <- prometheus.MustNewConstMetric(descBackup, prometheus.GaugeValue, float64(st.LastBackup.UnixNano())/1e9)
	}
	up := 0.0
	if c.svc.Running() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
}
