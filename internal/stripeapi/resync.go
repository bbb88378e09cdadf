package stripeapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/form"

	"creditdesk/billing"
)

// EventRetention is how far back the Events API goes.
const EventRetention = 30 * 24 * time.Hour

// ResyncOptions say which events to list again.
type ResyncOptions struct {
	// Since is the oldest creation time to list; it is clamped to Stripe's
	// 30-day retention.
	Since time.Time
	// FailedOnly lists only events whose webhook delivery failed
	// (delivery_success=false).
	FailedOnly bool
	// Progress, when set, is called after each page is read and after the
	// events are fed to the inbox.
	Progress func(ResyncProgress)
}

// ResyncProgress is how far a resync got.
type ResyncProgress struct {
	Since time.Time
	// Pages and Listed count what the Events API returned so far.
	Pages  int
	Listed int
	// Stored are new events, Duplicates events already stored (dropped by
	// id), Skipped events of types creditdesk does not handle.
	Stored     int
	Duplicates int
	Skipped    int
	Done       bool
}

func (p ResyncProgress) String() string {
	if !p.Done {
		return fmt.Sprintf("resync since %s: %d events listed (%d pages)…", p.Since.Local().Format("2006-01-02 15:04"), p.Listed, p.Pages)
	}
	return fmt.Sprintf("resync since %s: %d listed, %d new, %d already stored, %d of types creditdesk does not use",
		p.Since.Local().Format("2006-01-02 15:04"), p.Listed, p.Stored, p.Duplicates, p.Skipped)
}

// rawEventList is one page of /v1/events with each event kept as the raw
// JSON Stripe sent: stripe-go's Event struct would drop the fields of API
// versions newer than its own, and the billing rules read any shape.
type rawEventList struct {
	stripe.APIResource
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
}

type eventHead struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
}

var handled = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range billing.HandledEvents {
		m[t] = true
	}
	return m
}()

// Resync lists events created since opt.Since from the Events API, every
// page, and feeds each one, oldest first, through the same inbox as the
// webhook (source "resync"): an event already stored is dropped by its id,
// one missed while creditdesk was down is stored and applied.
func (c *Client) Resync(ctx context.Context, opt ResyncOptions) (ResyncProgress, error) {
	svc, err := c.records()
	if err != nil {
		return ResyncProgress{}, err
	}
	now := c.now()
	if floor := now.Add(-EventRetention); opt.Since.Before(floor) {
		opt.Since = floor
	}
	prog := ResyncProgress{Since: opt.Since}
	report := func() {
		if opt.Progress != nil {
			opt.Progress(prog)
		}
	}
	// The API lists newest first; gather every page, then feed oldest first
	// so the rules see events in the order they happened.
	var events []json.RawMessage
	var after string
	for {
		p := &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: opt.Since.Unix()}}
		p.Limit = stripe.Int64(100)
		p.Context = ctx
		if opt.FailedOnly {
			p.DeliverySuccess = stripe.Bool(false)
		}
		if after != "" {
			p.StartingAfter = stripe.String(after)
		}
		// CallRaw with the encoded form: Backend.Call's parameter checks
		// expect a Metadata field list parameters do not have.
		fv := &form.Values{}
		form.AppendTo(fv, p)
		var page rawEventList
		if err := c.backend.CallRaw(http.MethodGet, "/v1/events", c.key, fv, &stripe.Params{Context: ctx}, &page); err != nil {
			return prog, wrap("listing events", err)
		}
		prog.Pages++
		prog.Listed += len(page.Data)
		events = append(events, page.Data...)
		report()
		if !page.HasMore || len(page.Data) == 0 {
			break
		}
		var last eventHead
		if err := json.Unmarshal(page.Data[len(page.Data)-1], &last); err != nil || last.ID == "" {
			return prog, fmt.Errorf("listing events: an event without an id on page %d", prog.Pages)
		}
		if last.ID == after {
			break
		}
		after = last.ID
	}
	// Newest first reversed is oldest first; a stable sort by creation
	// keeps that order for events of the same second and fixes pages that
	// overlapped while new events arrived.
	heads := make([]eventHead, 0, len(events))
	raws := make([]json.RawMessage, 0, len(events))
	for _, raw := range slices.Backward(events) {
		var h eventHead
		if err := json.Unmarshal(raw, &h); err != nil {
			return prog, fmt.Errorf("listing events: %w", err)
		}
		heads, raws = append(heads, h), append(raws, raw)
	}
	order := make([]int, len(heads))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(heads[a].Created, heads[b].Created) })
	for _, i := range order {
		raw, h := raws[i], heads[i]
		if err := ctx.Err(); err != nil {
			return prog, err
		}
		if !handled[h.Type] {
			prog.Skipped++
			continue
		}
		_, dup, err := svc.Ingest(raw, "resync")
		if err != nil {
			return prog, fmt.Errorf("storing %s: %w", h.ID, err)
		}
		if dup {
			prog.Duplicates++
		} else {
			prog.Stored++
		}
	}
	prog.Done = true
	report()
	c.log.Info("resync done", "since", opt.Since, "listed", prog.Listed, "new", prog.Stored, "duplicates", prog.Duplicates, "skipped", prog.Skipped)
	return prog, nil
}

// ErrNothingStored is returned by AutoResync when the store has no event to
// resync from.
var ErrNothingStored = errors.New("no stored events to resync from: run `creditdesk resync --since 720h` to import the last 30 days")

// resyncOverlap lists a little before the newest stored event: events are
// created in an order Stripe does not promise to deliver them in.
const resyncOverlap = 10 * time.Minute

// AutoResync resyncs from the newest stored event's creation time (at most
// 30 days back), so what arrived while creditdesk was down is applied. With
// no stored event it does nothing and returns ErrNothingStored: importing
// history is a deliberate `creditdesk resync`.
func (c *Client) AutoResync(ctx context.Context, progress func(ResyncProgress)) (ResyncProgress, error) {
	svc, err := c.records()
	if err != nil {
		return ResyncProgress{}, err
	}
	recs, err := svc.EventsPage(0, 50)
	if err != nil {
		return ResyncProgress{}, err
	}
	var newest int64
	for _, r := range recs {
		if r.Source != "simulator" && r.Created > newest {
			newest = r.Created
		}
	}
	if newest == 0 {
		return ResyncProgress{}, ErrNothingStored
	}
	since := time.Unix(newest, 0).Add(-resyncOverlap)
	return c.Resync(ctx, ResyncOptions{Since: since, Progress: progress})
}
