package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/deliver"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/requestid"
	"leadgate/gateway/store"
)

// Responder makes a mapping's reverse-proxy send (contract §3): the
// deliver.Dispatcher.
type Responder interface {
	// Hold is the store.Hold for a send to dest within timeout, or nil and
	// the gateway_respond_total answer saying why dest cannot take one now.
	Hold(dest string, timeout time.Duration) (*store.Hold, string)
	// Respond makes the held delivery's first attempt and settles it.
	Respond(del store.Delivery, timeout time.Duration) deliver.Reply
}

// keepAnswerTimeout bounds the write that keeps a relayed answer for
// duplicates; the request's own deadline may be spent on the send.
const keepAnswerTimeout = 5 * time.Second

// holdFor asks the responder to hold the payload's delivery to r's
// destination, and says why not when it will not.
func (s *Server) holdFor(r *mapping.Respond) (*store.Hold, string) {
	if r == nil {
		return nil, ""
	}
	if s.opts.Responder == nil {
		return nil, metrics.RespondNotSent
	}
	return s.opts.Responder.Hold(r.Destination, r.Timeout)
}

// respond answers a stored payload of a source with a respond section:
// the destination's answer when it is to be relayed, else the gateway's
// own 200. why is holdFor's reason when it held nothing. A stored lead is
// never answered as a failure by the gateway itself: a 4xx here is the
// destination's.
func (s *Server) respond(c *fiber.Ctx, source string, r *mapping.Respond, hold *store.Hold, why, dedupe string, out store.IngestResult) error {
	var relay *store.Answer
	switch {
	case out.Duplicate:
		why, relay = metrics.RespondDuplicate, out.Answer
	case out.Held != nil:
		reply := s.opts.Responder.Respond(*out.Held, r.Timeout)
		why = reply.Outcome
		if why == metrics.RespondRelayed {
			relay = &reply.Answer
			s.keepAnswer(c, dedupe, reply.Answer)
		}
	case hold != nil:
		why = metrics.RespondNotRouted
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.Respond.WithLabelValues(source, why).Inc()
	}
	if relay == nil {
		return sendAccepted(c, out.LeadID)
	}
	c.Status(relay.Status)
	if relay.ContentType != "" {
		c.Set(fiber.HeaderContentType, relay.ContentType)
	} else {
		c.Response().Header.SetNoDefaultContentType(true)
	}
	c.Response().SetBody(relay.Body)
	return nil
}

// keepAnswer keeps a relayed answer with the payload's dedupe record. One
// that cannot be kept costs only that a duplicate gets the gateway's own
// 200 with the same lead id.
func (s *Server) keepAnswer(c *fiber.Ctx, dedupe string, a store.Answer) {
	if dedupe == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), keepAnswerTimeout)
	defer cancel()
	if err := s.opts.Store.KeepAnswer(ctx, dedupe, a); err != nil {
		s.log.Warn("keep the relayed answer for duplicates", "request_id", requestid.Get(c), "error", err.Error())
	}
}
