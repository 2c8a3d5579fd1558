package requestid_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/requestid"
)

// echo answers the id Get sees, after Middleware.
func echo(t *testing.T) *fiber.App {
	t.Helper()
	app := fiber.New()
	app.Use(requestid.Middleware)
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString(requestid.Get(c)) })
	return app
}

func TestMiddleware(t *testing.T) {
	app := echo(t)
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"none sent", "", false},
		{"safe kept", "abc-123_X.y", true},
		{"64 characters kept", strings.Repeat("a", 64), true},
		{"65 characters replaced", strings.Repeat("a", 65), false},
		{"newline replaced", "bad id\nforged=1", false},
		{"space replaced", "a b", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.sent != "" {
				req.Header.Set(requestid.Header, tt.sent)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.Header.Get(requestid.Header)
			if string(body) != got {
				t.Errorf("Get = %q, answered %q, want the same", string(body), got)
			}
			switch {
			case tt.kept && got != tt.sent:
				t.Errorf("sent %q, answered %q, want it kept", tt.sent, got)
			case !tt.kept && (got == tt.sent || len(got) != 28):
				t.Errorf("sent %q, answered %q, want a made id of 28 hex characters", tt.sent, got)
			case !tt.kept && seen[got]:
				t.Errorf("made id %q twice", got)
			}
			seen[got] = true
		})
	}
}

func TestGetBeforeSet(t *testing.T) {
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("[" + requestid.Get(c) + "]") })
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "[]" {
		t.Errorf("Get without Set = %s, want []", string(body))
	}
}
