package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/adminkeys"
	"leadgate/gateway/httperr"
	"leadgate/gateway/leadexport"
	"leadgate/gateway/store"
	"leadgate/gateway/storehttp"
)

// adminTimeout bounds an admin call's store work.
const adminTimeout = 10 * time.Second

// adminAuth requires X-Access-Key and X-Secret-Key equal to the configured
// keys (adminkeys.Match). Empty configured keys disable the API. Repeated
// wrong keys from one address are slowed down: 429 with Retry-After.
func (s *Server) adminAuth(c *fiber.Ctx) error {
	rt := s.Runtime()
	switch v, wait := s.guard.Check(c, rt.AccessKey, rt.SecretKey, c.Get("X-Access-Key"), c.Get("X-Secret-Key")); v {
	case adminkeys.Granted:
		return c.Next()
	case adminkeys.Throttled:
		return &httperr.Error{Code: fiber.StatusTooManyRequests, Msg: "too many wrong admin keys",
			Details: []any{"wait for Retry-After before trying again"}, RetryAfter: adminkeys.RetryAfterSeconds(wait)}
	}
	return &httperr.Error{Code: fiber.StatusUnauthorized, Msg: "admin keys missing or wrong",
		Details: []any{"send X-Access-Key and X-Secret-Key with the keys of admin in gateway.yaml"}}
}

type eventView struct {
	ID         string                 `json:"id"`
	Event      string                 `json:"event"`
	Source     string                 `json:"source"`
	LeadID     string                 `json:"lead_id"`
	ReceivedAt time.Time              `json:"received_at"`
	Deliveries []store.DeliveryStatus `json:"deliveries"`
}

func (s *Server) adminEvent(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	rec, err := s.opts.Store.Event(ctx, c.Params("id"))
	if err != nil {
		return storehttp.Error(err, "event")
	}
	deliveries := rec.Deliveries
	if deliveries == nil {
		deliveries = []store.DeliveryStatus{}
	}
	for i := range deliveries {
		if deliveries[i].Attempts == nil {
			deliveries[i].Attempts = []store.Attempt{}
		}
	}
	return c.JSON(eventView{ID: rec.Event.ID, Event: rec.Event.Event, Source: rec.Event.Source,
		LeadID: rec.Event.LeadID, ReceivedAt: rec.Event.ReceivedAt, Deliveries: deliveries})
}

func (s *Server) adminDeadLetters(c *fiber.Ctx) error {
	limit, err := storehttp.PageLimit(c, 100, 1000)
	if err != nil {
		return err
	}
	return storehttp.DeadLetterPage(c, s.opts.Store, limit, adminTimeout)
}

func (s *Server) adminReplay(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := s.opts.Store.Replay(ctx, c.Params("id"), s.opts.Now()); err != nil {
		return storehttp.Error(err, "dead letter")
	}
	s.kick()
	return c.JSON(fiber.Map{"replayed": 1})
}

func (s *Server) adminReplayAll(c *fiber.Ctx) error {
	dest := c.Query("destination")
	if dest == "" {
		return &httperr.Error{Code: fiber.StatusBadRequest, Msg: "destination required", Details: []any{"POST /admin/dead-letters/replay?destination=NAME"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	n, err := s.opts.Store.ReplayAll(ctx, dest, s.opts.Now())
	if err != nil {
		return storehttp.Error(err, "dead letters")
	}
	s.kick()
	return c.JSON(fiber.Map{"replayed": n})
}

func (s *Server) kick() {
	if s.opts.Kick != nil {
		s.opts.Kick()
	}
}

// adminLeadsCSV answers GET /admin/leads.csv (contract section 7).
func (s *Server) adminLeadsCSV(c *fiber.Ctx) error {
	return leadexport.CSV(c, s.opts.Store, s.opts.Now(), s.log)
}
