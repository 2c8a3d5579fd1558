package storehttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/store"
	"leadgate/gateway/storehttp"
)

func TestStoreError(t *testing.T) {
	tests := []struct {
		err        error
		code       int
		retryAfter int
	}{
		{fmt.Errorf("event x: %w", store.ErrNotFound), 404, 0},
		{fmt.Errorf("dead letters: %w", store.ErrBadCursor), 400, 0},
		{fmt.Errorf("lease: %w: dial tcp", store.ErrUnavailable), 503, 1},
		{errors.New("decode record: unexpected end of JSON input"), 500, 0},
	}
	for _, tt := range tests {
		var he *httperr.Error
		if !errors.As(storehttp.Error(tt.err, "thing"), &he) || he.Code != tt.code || he.RetryAfter != tt.retryAfter {
			t.Errorf("storehttp.Error(%v) = %+v, want code %d, Retry-After %d", tt.err, he, tt.code, tt.retryAfter)
		}
	}
}

func TestErrorNotFoundNamesWhat(t *testing.T) {
	var he *httperr.Error
	if !errors.As(storehttp.Error(store.ErrNotFound, "dead letter"), &he) || he.Msg != "dead letter not found" {
		t.Errorf("Error(ErrNotFound, dead letter) = %+v, want Msg %q", he, "dead letter not found")
	}
}

// answer runs h on a GET of target and returns the status and body.
func answer(t *testing.T, target string, h fiber.Handler) (int, string) {
	t.Helper()
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var he *httperr.Error
		if !errors.As(err, &he) {
			t.Fatalf("handler error %v is no httperr.Error", err)
		}
		return c.Status(he.Code).JSON(he.Body())
	}})
	app.Get("/", h)
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, target, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestPageLimit(t *testing.T) {
	tests := []struct {
		query string
		code  int
		body  string
	}{
		{"", 200, "100"},
		{"?limit=1", 200, "1"},
		{"?limit=1000", 200, "1000"},
		{"?limit=0", 400, "bad limit"},
		{"?limit=1001", 400, "limit must be a whole number from 1 to 1000"},
		{"?limit=ten", 400, "bad limit"},
		{"?limit=-3", 400, "bad limit"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, body := answer(t, "/"+tt.query, func(c *fiber.Ctx) error {
				n, err := storehttp.PageLimit(c, 100, 1000)
				if err != nil {
					return err
				}
				return c.SendString(fmt.Sprint(n))
			})
			if code != tt.code || (code == 200 && body != tt.body) || (code != 200 && !strings.Contains(body, tt.body)) {
				t.Errorf("GET /%s = %d %s, want %d with %q", tt.query, code, body, tt.code, tt.body)
			}
		})
	}
}

// listerFunc fakes the store's DeadLetters.
type listerFunc func(ctx context.Context, dest, cursor string, limit int) ([]store.DeadLetter, string, error)

func (f listerFunc) DeadLetters(ctx context.Context, dest, cursor string, limit int) ([]store.DeadLetter, string, error) {
	return f(ctx, dest, cursor, limit)
}

func TestDeadLetterPage(t *testing.T) {
	one := []store.DeadLetter{{ID: "dl1", Destination: "crm"}}
	tests := []struct {
		name, query string
		items       []store.DeadLetter
		next        string
		err         error
		wantCall    string
		code        int
		body        string
	}{
		{name: "empty is an empty list", items: nil, wantCall: "||7", code: 200, body: `{"items":[],"next":""}`},
		{name: "destination and cursor passed on", query: "?destination=crm&cursor=c1", items: one, next: "c2",
			wantCall: "crm|c1|7", code: 200, body: `"next":"c2"`},
		{name: "bad cursor", query: "?cursor=zz", err: fmt.Errorf("x: %w", store.ErrBadCursor), wantCall: "|zz|7",
			code: 400, body: "bad cursor"},
		{name: "outage", err: store.ErrUnavailable, wantCall: "||7", code: 503, body: "store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var call string
			st := listerFunc(func(ctx context.Context, dest, cursor string, limit int) ([]store.DeadLetter, string, error) {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("store read without a deadline")
				}
				call = fmt.Sprintf("%s|%s|%d", dest, cursor, limit)
				return tt.items, tt.next, tt.err
			})
			code, body := answer(t, "/"+tt.query, func(c *fiber.Ctx) error {
				return storehttp.DeadLetterPage(c, st, 7, time.Second)
			})
			if call != tt.wantCall {
				t.Errorf("store called with %q, want %q", call, tt.wantCall)
			}
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("answer = %d %s, want %d with %s", code, body, tt.code, tt.body)
			}
		})
	}
}
