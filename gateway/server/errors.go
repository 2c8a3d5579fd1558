package server

import (
	"errors"
	"log/slog"
	"strconv"

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

// errorHandler turns every error a handler returns into the contract's JSON
// error body; it is the one place errors are logged.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var he *HTTPError
		if !errors.As(err, &he) {
			var fe *fiber.Error
			if errors.As(err, &fe) {
				he = &HTTPError{Code: fe.Code, Msg: fiberMessage(fe)}
			} else {
				he = &HTTPError{Code: fiber.StatusInternalServerError, Msg: "internal error", Err: err}
			}
		}
		if he.Code >= 500 {
			log.Error("request failed", "request_id", requestID(c), "method", c.Method(), "path", c.Route().Path, "code", he.Code, "error", he.Error())
		} else if he.Err != nil {
			log.Debug("request rejected", "request_id", requestID(c), "method", c.Method(), "path", c.Route().Path, "code", he.Code, "error", he.Err.Error())
		}
		if he.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(he.RetryAfter))
		}
		details := he.Details
		if details == nil {
			details = []any{}
		}
		return c.Status(he.Code).JSON(errorBody{Error: he.Msg, Details: details})
	}
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
