package console

import (
	"net/url"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/requestid"
	"leadgate/gateway/storehttp"
)

func (c *Console) deadLetters(ctx *fiber.Ctx) error {
	limit, err := storehttp.PageLimit(ctx, 100, maxPage)
	if err != nil {
		return err
	}
	return storehttp.DeadLetterPage(ctx, c.opts.Store, limit, callTimeout)
}

func (c *Console) replayOne(ctx *fiber.Ctx) error {
	ctx2, cancel := callContext()
	defer cancel()
	if err := c.opts.Store.Replay(ctx2, ctx.Params("id"), c.opts.Now()); err != nil {
		return storehttp.Error(err, "dead letter")
	}
	c.kick()
	c.log.Info("console replayed a dead letter", "request_id", requestid.Get(ctx), "dead_letter_id", ctx.Params("id"))
	return ctx.JSON(fiber.Map{"replayed": 1})
}

func (c *Console) replayAll(ctx *fiber.Ctx) error {
	dest := ctx.Query("destination")
	if dest == "" {
		return &httperr.Error{Code: fiber.StatusBadRequest, Msg: "destination required"}
	}
	ctx2, cancel := callContext()
	defer cancel()
	n, err := c.opts.Store.ReplayAll(ctx2, dest, c.opts.Now())
	if err != nil {
		return storehttp.Error(err, "dead letters")
	}
	c.kick()
	c.log.Info("console replayed dead letters", "request_id", requestid.Get(ctx), "destination", dest, "replayed", n)
	return ctx.JSON(fiber.Map{"replayed": n})
}

// subscriptionView is a subscription as the console lists it: the URL as
// redactURL shows it and the custom headers' names only.
type subscriptionView struct {
	ID              string   `json:"id"`
	Destination     string   `json:"destination"`
	Description     string   `json:"description"`
	URL             string   `json:"url"`
	Method          string   `json:"method"`
	ContentType     string   `json:"content_type"`
	Event           string   `json:"event"`
	LandingPages    []string `json:"landing_pages"`
	NotifyOnFailure bool     `json:"notify_on_failure"`
	Headers         []string `json:"headers"`
	CreatedAt       string   `json:"created_at"`
}

func (c *Console) subscriptions(ctx *fiber.Ctx) error {
	out := []subscriptionView{}
	if c.opts.Subscriptions == nil {
		return ctx.JSON(fiber.Map{"items": out})
	}
	ctx2, cancel := callContext()
	defer cancel()
	subs, err := c.opts.Subscriptions.List(ctx2)
	if err != nil {
		return &httperr.Error{Code: fiber.StatusServiceUnavailable, Msg: "store unavailable, retry later", RetryAfter: 1, Err: err}
	}
	for _, s := range subs {
		out = append(out, subscriptionView{ID: s.ID, Destination: s.Destination, Description: s.Description,
			URL: redactURL(s.URL), Method: s.Method, ContentType: s.ContentType, Event: s.Event,
			LandingPages: append([]string{}, s.LandingPages...), NotifyOnFailure: s.NotifyOnFailure,
			Headers: append([]string{}, s.Headers...), CreatedAt: s.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")})
	}
	return ctx.JSON(fiber.Map{"items": out})
}

func (c *Console) deleteSubscription(ctx *fiber.Ctx) error {
	if c.opts.Subscriptions == nil {
		return &httperr.Error{Code: fiber.StatusNotFound, Msg: "subscription not found"}
	}
	id, err := url.PathUnescape(ctx.Params("id"))
	if err != nil {
		return &httperr.Error{Code: fiber.StatusBadRequest, Msg: "bad id"}
	}
	ctx2, cancel := callContext()
	defer cancel()
	if err := c.opts.Subscriptions.Delete(ctx2, id); err != nil {
		return storehttp.Error(err, "subscription")
	}
	c.log.Info("console deleted a subscription", "request_id", requestid.Get(ctx), "id", id)
	return ctx.JSON(fiber.Map{"deleted": id})
}

// metaView is what every page needs to start: the sources, the
// destinations and the playground's samples.
type metaView struct {
	Sources      []string `json:"sources"`
	Destinations []string `json:"destinations"`
}

func (c *Console) meta(ctx *fiber.Ctx) error {
	rt := c.runtime()
	v := metaView{Sources: []string{}, Destinations: []string{}}
	if rt.Mappings != nil {
		v.Sources = append(v.Sources, rt.Mappings.Names()...)
	}
	for _, d := range rt.Destinations {
		v.Destinations = append(v.Destinations, d.Name)
	}
	sort.Slice(v.Destinations, func(i, j int) bool {
		return strings.ToLower(v.Destinations[i]) < strings.ToLower(v.Destinations[j])
	})
	return ctx.JSON(v)
}
