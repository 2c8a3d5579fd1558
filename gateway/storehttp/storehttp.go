// Package storehttp answers the store's lists and errors over HTTP the one
// way the admin API (gateway/server) and the operations console
// (gateway/console) both answer them: a store error as an httperr.Error, a
// list's ?limit=, and the dead-letter page with its cursor. It sits below
// both so that neither imports the other.
package storehttp

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/store"
)

// Error maps a store error to the answer of the admin API and the
// console: 404 "<what> not found" for no such thing, 400 for a cursor no
// page handed out, 503 with Retry-After only for an outage, and 500 for
// anything else (a retry would fail the same way).
func Error(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &httperr.Error{Code: fiber.StatusNotFound, Msg: what + " not found"}
	case errors.Is(err, store.ErrBadCursor):
		return &httperr.Error{Code: fiber.StatusBadRequest, Msg: "bad cursor",
			Details: []any{"pass the next of a previous page as cursor, or no cursor for the first page"}, Err: err}
	case errors.Is(err, store.ErrUnavailable):
		return &httperr.Error{Code: fiber.StatusServiceUnavailable, Msg: "store unavailable, retry later", RetryAfter: 1, Err: err}
	}
	return &httperr.Error{Code: fiber.StatusInternalServerError, Msg: "internal error", Err: err}
}

// PageLimit reads a list's ?limit=, def when absent, and answers 400 for
// anything but a whole number from 1 to max.
func PageLimit(c *fiber.Ctx, def, max int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, &httperr.Error{Code: fiber.StatusBadRequest, Msg: "bad limit",
			Details: []any{"limit must be a whole number from 1 to " + strconv.Itoa(max)}}
	}
	return n, nil
}

// DeadLetterLister is what DeadLetterPage needs of the store.
type DeadLetterLister interface {
	DeadLetters(ctx context.Context, dest, cursor string, limit int) ([]store.DeadLetter, string, error)
}

// DeadLetterPage answers one page of dead letters, of ?destination= (all
// when empty) from ?cursor=, as the admin API and the console list them:
// {"items": [...], "next": "cursor or empty"}. The store read gets its own
// deadline of timeout, as fiber.Ctx is never cancelled.
func DeadLetterPage(c *fiber.Ctx, st DeadLetterLister, limit int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	items, next, err := st.DeadLetters(ctx, c.Query("destination"), c.Query("cursor"), limit)
	if err != nil {
		return Error(err, "dead letters")
	}
	if items == nil {
		items = []store.DeadLetter{}
	}
	return c.JSON(struct {
		Items []store.DeadLetter `json:"items"`
		Next  string             `json:"next"`
	}{items, next})
}
