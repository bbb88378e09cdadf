package cli

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"creditdesk/billing"
	"creditdesk/webhook"
)

// reportJSON is `creditdesk report --json`: amounts in each currency's
// minor units (cents, whole yen), credits as counts.
type reportJSON struct {
	From  string `json:"from"`
	Until string `json:"until"`
	// Revenue is by currency: gross, refunded, disputed and net.
	Revenue map[string]moneyJSON `json:"revenue"`
	Credits creditsJSON          `json:"credits"`
	// Subscriptions is by plan: in force now, started and ended in the
	// period, what the ones in force pay a month.
	Subscriptions map[string]planJSON `json:"subscriptions"`
	// MRR is every plan's monthly revenue, by currency.
	MRR      map[string]int64    `json:"mrr"`
	TopUsers []billing.UserSpend `json:"top_users"`
	Days     []dayJSON           `json:"days"`
}

type moneyJSON struct {
	Gross    int64 `json:"gross"`
	Refunded int64 `json:"refunded"`
	Disputed int64 `json:"disputed"`
	Net      int64 `json:"net"`
}

type creditsJSON struct {
	Granted    int64 `json:"granted"`
	Spent      int64 `json:"spent"`
	Expired    int64 `json:"expired"`
	ClawedBack int64 `json:"clawed_back"`
	Revoked    int64 `json:"revoked"`
}

type planJSON struct {
	Active  int64            `json:"active"`
	New     int64            `json:"new"`
	Churned int64            `json:"churned"`
	MRR     map[string]int64 `json:"mrr"`
}

type dayJSON struct {
	Day     string               `json:"day"`
	Revenue map[string]moneyJSON `json:"revenue"`
	Credits creditsJSON          `json:"credits"`
}

func revenueJSON(r map[string]billing.Money) map[string]moneyJSON {
	out := map[string]moneyJSON{}
	for cur, m := range r {
		out[cur] = moneyJSON{Gross: m.Gross, Refunded: m.Refunded, Disputed: m.Disputed, Net: m.Net()}
	}
	return out
}

func creditsOf(c billing.CreditFlow) creditsJSON {
	return creditsJSON{Granted: c.Granted, Spent: c.Spent, Expired: c.Expired, ClawedBack: c.ClawedBack, Revoked: c.Revoked}
}

func newReport(in billing.Insight) reportJSON {
	r := reportJSON{From: in.From, Until: in.Until, Revenue: revenueJSON(in.Total.Revenue), Credits: creditsOf(in.Total.Credits),
		Subscriptions: map[string]planJSON{}, MRR: map[string]int64{}, TopUsers: in.TopUsers, Days: []dayJSON{}}
	for _, p := range in.Plans {
		pj := planJSON{Active: p.Active, MRR: map[string]int64{}}
		for cur, n := range p.MRR {
			pj.MRR[cur] = n
			r.MRR[cur] += n
		}
		r.Subscriptions[p.Plan] = pj
	}
	for name, f := range in.Total.Plans {
		pj, ok := r.Subscriptions[name]
		if !ok {
			pj.MRR = map[string]int64{}
		}
		pj.New, pj.Churned = f.New, f.Churned
		r.Subscriptions[name] = pj
	}
	for _, d := range in.Days {
		r.Days = append(r.Days, dayJSON{Day: d.Day, Revenue: revenueJSON(d.Revenue), Credits: creditsOf(d.Credits)})
	}
	return r
}

// reportPeriod reads --since and --until: since as a number of days that
// ends today (30d: today and the 29 days before), a duration back, or a
// date; until as a date (that day included) or a duration back, default
// now.
func reportPeriod(since, until string, now time.Time) (time.Time, time.Time, error) {
	end := now
	if strings.TrimSpace(until) != "" {
		t, err := parseWhen(until, now)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--until: %w", err)
		}
		end = t
	}
	s := strings.TrimSpace(since)
	if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && strings.HasSuffix(s, "d") && n > 0 {
		return end.AddDate(0, 0, -(n - 1)), end, nil
	}
	start, err := parseWhen(s, now)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--since: %w", err)
	}
	if start.IsZero() {
		return time.Time{}, time.Time{}, fmt.Errorf("--since: a number of days such as 30d, a duration such as 72h, or a date such as 2026-11-01")
	}
	return start, end, nil
}

func runReport(env *Env, args []string) error {
	fs := newFlags(env, "report")
	asJSON := fs.Bool("json", false, "print JSON (amounts in minor units: cents, whole yen)")
	since := fs.String("since", "30d", "from: a number of days ending today (30d), a duration back (72h) or a date (2026-11-01)")
	until := fs.String("until", "", "through this date (2026-11-30, included) or duration back; default now")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: "usage: creditdesk report [--since 30d] [--until DATE] [--json]"}
	}
	from, to, err := reportPeriod(*since, *until, time.Now().UTC())
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	in, err := fetch(env, func(svc webhook.AdminService) (billing.Insight, error) { return svc.Insight(from, to) })
	if err != nil {
		return err
	}
	r := newReport(in)
	if *asJSON {
		return printJSON(env, r)
	}
	printReport(env, r)
	return nil
}

// printReport writes the report for people: amounts as their currency
// writes them (billing.FormatAmount: 12.50 USD, 1,500 JPY).
func printReport(env *Env, r reportJSON) {
	w := env.Stdout
	fmt.Fprintf(w, "Report %s to %s (UTC days)\n\n", r.From, r.Until)
	_ = printRows(env, slices.Sorted(maps.Keys(r.Revenue)), "Revenue: nothing paid in this period", "REVENUE\tGROSS\tREFUNDED\tDISPUTED\tNET", func(cur string) string {
		m := r.Revenue[cur]
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", strings.ToUpper(cur), billing.FormatAmount(m.Gross, cur),
			billing.FormatAmount(m.Refunded, cur), billing.FormatAmount(m.Disputed, cur), billing.FormatAmount(m.Net, cur))
	})
	c := r.Credits
	fmt.Fprintf(w, "\nCredits: %s granted, %s spent, %s expired, %s clawed back, %s revoked\n",
		billing.Credits(c.Granted), billing.Credits(c.Spent), billing.Credits(c.Expired), billing.Credits(c.ClawedBack), billing.Credits(c.Revoked))
	fmt.Fprintln(w)
	_ = printRows(env, slices.Sorted(maps.Keys(r.Subscriptions)), "Subscriptions: none", "PLAN\tACTIVE\tNEW\tCHURNED\tMRR", func(name string) string {
		p := r.Subscriptions[name]
		return fmt.Sprintf("%s\t%d\t%d\t%d\t%s", shown(name), p.Active, p.New, p.Churned, moneyList(p.MRR))
	})
	fmt.Fprintf(w, "MRR: %s\n", moneyList(r.MRR))
	if len(r.TopUsers) > 0 {
		fmt.Fprintln(w)
		_ = printRows(env, r.TopUsers, "", "TOP USERS (ALL TIME)\tNET PAID", func(u billing.UserSpend) string {
			return fmt.Sprintf("%s\t%s", shown(u.User), billing.FormatAmount(u.Net, u.Currency))
		})
	}
}

// moneyList writes amounts by currency as "49.00 USD, 1,500 JPY", or "–".
func moneyList(m map[string]int64) string {
	if len(m) == 0 {
		return "–"
	}
	var parts []string
	for _, cur := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, billing.FormatAmount(m[cur], cur))
	}
	return strings.Join(parts, ", ")
}
