package console

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/store"
	"leadgate/gateway/storehttp"
)

// maxPage caps one page of events or dead letters.
const maxPage = 200

type eventPage struct {
	Items []lead.Event `json:"items"`
	Next  string       `json:"next"`
}

// searchEvents answers GET /events?email=|phone=|lead_id=|event_id=&cursor=&limit=:
// the latest events, newest first, narrowed by at most one of the four.
func (c *Console) searchEvents(ctx *fiber.Ctx) error {
	limit, err := storehttp.PageLimit(ctx, 50, maxPage)
	if err != nil {
		return err
	}
	q := store.EventQuery{
		EventID: strings.TrimSpace(ctx.Query("event_id")),
		LeadID:  strings.TrimSpace(ctx.Query("lead_id")),
		Email:   strings.ToLower(strings.TrimSpace(ctx.Query("email"))),
		Phone:   NormalizePhone(ctx.Query("phone")),
		Cursor:  ctx.Query("cursor"),
		Limit:   limit,
	}
	ctx2, cancel := callContext()
	defer cancel()
	items, next, err := c.opts.Store.Events(ctx2, q)
	if err != nil {
		return storehttp.Error(err, "events")
	}
	if items == nil {
		items = []lead.Event{}
	}
	return ctx.JSON(eventPage{Items: items, Next: next})
}

// NormalizePhone keeps a leading + and the digits, which is how mappings
// store phones in the lead index (e164), so "+1 (415) 555-0100" finds
// "+14155550100".
func NormalizePhone(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		if (r == '+' && i == 0) || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// destinationView says where an event went without what must stay secret:
// the URL as redactURL shows it, the custom headers' names without their
// values, and whether deliveries are signed.
type destinationView struct {
	URL     string   `json:"url"`
	Method  string   `json:"method"`
	Format  string   `json:"format"`
	Headers []string `json:"headers"`
	Signed  bool     `json:"signed"`
	Enabled bool     `json:"enabled"`
}

type deliveryView struct {
	Destination string           `json:"destination"`
	Status      string           `json:"status"`
	Attempts    []store.Attempt  `json:"attempts"`
	Config      *destinationView `json:"config,omitempty"`
}

type eventDetailView struct {
	Event      lead.Event     `json:"event"`
	Deliveries []deliveryView `json:"deliveries"`
}

// eventDetail answers one event: its canonical body and every destination's
// attempts.
func (c *Console) eventDetail(ctx *fiber.Ctx) error {
	ctx2, cancel := callContext()
	defer cancel()
	rec, err := c.opts.Store.Event(ctx2, ctx.Params("id"))
	if err != nil {
		return storehttp.Error(err, "event")
	}
	byName := map[string]*deliver.Destination{}
	rt := c.runtime()
	for i := range rt.Destinations {
		byName[rt.Destinations[i].Name] = &rt.Destinations[i]
	}
	out := eventDetailView{Event: rec.Event, Deliveries: make([]deliveryView, 0, len(rec.Deliveries))}
	for _, d := range rec.Deliveries {
		v := deliveryView{Destination: d.Destination, Status: d.Status, Attempts: d.Attempts}
		if v.Attempts == nil {
			v.Attempts = []store.Attempt{}
		}
		if dest, ok := byName[d.Destination]; ok {
			v.Config = viewDestination(dest)
		}
		out.Deliveries = append(out.Deliveries, v)
	}
	return ctx.JSON(out)
}

func viewDestination(d *deliver.Destination) *destinationView {
	v := &destinationView{URL: redactURL(d.URL), Method: d.Method, Format: d.Format,
		Headers: []string{}, Signed: len(d.Secrets) > 0, Enabled: d.Enabled}
	for _, h := range d.Headers {
		v.Headers = append(v.Headers, h.Key)
	}
	return v
}

// redactURL is how the console shows every destination and subscription
// URL: scheme, host (and port) and the first path segment only, as in
// https://hooks.slack.com/services. Slack-style webhook URLs carry their
// secret in the path, others in the query, the user info or the fragment,
// so everything past the first segment is dropped. A URL that does not
// parse shows as nothing.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	out := u.Scheme + "://" + u.Host
	if first, _, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/"); first != "" {
		out += "/" + first
	}
	return out
}
