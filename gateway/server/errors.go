package server

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// HTTPError keeps what the client is told (Msg, Details) apart from what is
// logged (Err), after Tailscale's tsweb.HTTPError.
type HTTPError struct {
	Code    int
	Msg     string
	Details []any
	// Err is logged, never sent.
	Err error
	// RetryAfter, when positive, is sent as Retry-After in whole seconds.
	RetryAfter int
}

func (e *HTTPError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *HTTPError) Unwrap() error { return e.Err }

// errorBody is the contract's JSON error.
type errorBody struct {
	Error   string `json:"error"`
	Details []any  `json:"details"`
}

// lsqErrorBody is LeadSquared's error shape, answered under /v2/.
type lsqErrorBody struct {
	Status           string `json:"Status"`
	ExceptionType    string `json:"ExceptionType"`
	ExceptionMessage string `json:"ExceptionMessage"`
}

// internalError is the contract's 500: the client learns only the request
// id to quote; the cause is logged under that id.
func internalError(c *fiber.Ctx, err error) error {
	return &HTTPError{Code: fiber.StatusInternalServerError, Msg: "internal error",
		Details: []any{"reference " + requestID(c)}, Err: err}
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
	if requestID(c) == "" {
		// fasthttp refused the request before the middleware ran.
		setRequestID(c)
	}
	var he *HTTPError
	if !errors.As(err, &he) {
		var fe *fiber.Error
		if !errors.As(err, &fe) {
			return s.handleError(c, internalError(c, err))
		}
		if source, ok := inboundSource(c); ok && fe.Code == fiber.StatusRequestEntityTooLarge {
			return s.handleError(c, s.oversized(c, source))
		}
		he = &HTTPError{Code: fe.Code, Msg: fiberMessage(fe)}
	}
	log := s.log
	if he.Code >= 500 {
		log.Error("request failed", "request_id", requestID(c), "method", c.Method(), "path", c.Route().Path, "code", he.Code, "error", he.Error())
	} else if he.Err != nil {
		log.Debug("request rejected", "request_id", requestID(c), "method", c.Method(), "path", c.Route().Path, "code", he.Code, "error", he.Err.Error())
	}
	if he.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(he.RetryAfter))
	}
	if p := c.Path(); p == "/v2" || strings.HasPrefix(p, "/v2/") {
		return c.Status(he.Code).JSON(lsqError(he, requestID(c)))
	}
	details := he.Details
	if details == nil {
		details = []any{}
	}
	return c.Status(he.Code).JSON(errorBody{Error: he.Msg, Details: details})
}

// lsqError is he in LeadSquared's shape: the LeadSquared API answers its
// own errors, so this only sees what escaped it (a panic, a body over the
// listener's cap), and a 5xx tells nothing but a reference.
func lsqError(he *HTTPError, ref string) lsqErrorBody {
	b := lsqErrorBody{Status: "Error", ExceptionMessage: he.Msg}
	switch {
	case he.Code >= 500:
		b.ExceptionType = "MXUnknownException"
		b.ExceptionMessage = "The API call failed. Retry later; if it persists, report reference " + ref + " to the gateway's operator."
	case he.Code == fiber.StatusUnauthorized:
		b.ExceptionType = "MXUnAuthorizedAccessException"
	case he.Code == fiber.StatusNotFound:
		b.ExceptionType = "MXInvalidAPIException"
	case he.Code == fiber.StatusTooManyRequests:
		b.ExceptionType = "MXAPIRateLimitExceededException"
	default:
		b.ExceptionType = "MXInvalidInputException"
	}
	return b
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
