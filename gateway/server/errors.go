package server

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/requestid"
)

// internalError is the contract's 500: the client learns only the request
// id to quote; the cause is logged under that id.
func internalError(c *fiber.Ctx, err error) error {
	return &httperr.Error{Code: fiber.StatusInternalServerError, Msg: "internal error",
		Details: []any{"reference " + requestid.Get(c)}, Err: err}
}

// panicked turns a recovered panic into an error carrying its stack, for
// the log line only.
func panicked(r any) error {
	return fmt.Errorf("panic: %v\n%s", r, debug.Stack())
}

// recoverPanic answers a panicking handler with the contract's 500 instead
// of letting fasthttp drop the connection.
func recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = internalError(c, panicked(r))
		}
	}()
	return c.Next()
}

// handleError is the app's one error handler: it turns every error a
// handler returns, and every request fasthttp refused before routing (a
// body over the listener's cap), into the contract's JSON error, or
// LeadSquared's under /v2/; it is the one place errors are logged.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	if requestid.Get(c) == "" {
		// fasthttp refused the request before the middleware ran.
		requestid.Set(c)
	}
	var he *httperr.Error
	if !errors.As(err, &he) {
		var fe *fiber.Error
		if !errors.As(err, &fe) {
			return s.handleError(c, internalError(c, err))
		}
		if source, ok := inboundSource(c); ok && fe.Code == fiber.StatusRequestEntityTooLarge {
			return s.handleError(c, s.oversized(c, source))
		}
		he = &httperr.Error{Code: fe.Code, Msg: fiberMessage(fe)}
	}
	log := s.log
	if he.Code >= 500 {
		log.Error("request failed", "request_id", requestid.Get(c), "method", c.Method(), "path", c.Route().Path, "code", he.Code, "error", he.Error())
	} else if he.Err != nil {
		log.Debug("request rejected", "request_id", requestid.Get(c), "method", c.Method(), "path", c.Route().Path, "code", he.Code, "error", he.Err.Error())
	}
	if he.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(he.RetryAfter))
	}
	// The LeadSquared API answers its own errors, so under /v2/ this only
	// sees what escaped it (a panic, a body over the listener's cap).
	if p := c.Path(); p == "/v2" || strings.HasPrefix(p, "/v2/") {
		return c.Status(he.Code).JSON(he.LeadSquared(requestid.Get(c)))
	}
	return c.Status(he.Code).JSON(he.Body())
}

func fiberMessage(fe *fiber.Error) string {
	switch fe.Code {
	case fiber.StatusRequestEntityTooLarge:
		return "body too large"
	case fiber.StatusNotFound:
		return "not found"
	case fiber.StatusMethodNotAllowed:
		return "method not allowed"
	}
	return fe.Message
}
