package leadexport_test

import (
	"context"
	"encoding/csv"
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
	"leadgate/gateway/lead"
	"leadgate/gateway/leadexport"
	"leadgate/gateway/store"
)

// pages fakes the store: page i is pages[i], its cursor the index.
type pages [][]store.LeadRecord

func (p pages) Leads(_ context.Context, q store.LeadQuery) ([]store.LeadRecord, string, error) {
	i := 0
	if q.Cursor != "" {
		fmt.Sscan(q.Cursor, &i)
	}
	if i >= len(p) {
		return nil, "", nil
	}
	next := ""
	if i+1 < len(p) {
		next = fmt.Sprint(i + 1)
	}
	return p[i], next, nil
}

func TestCSV(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rec := func(id, email string) store.LeadRecord {
		return store.LeadRecord{ID: id, Version: 1, Lead: lead.Lead{Email: email}, LastSeen: now.Add(-time.Minute)}
	}
	st := pages{{rec("l1", "a@example.com")}, {rec("l2", "=b@example.com")}}
	tests := []struct {
		name, query string
		code        int
		rows        int    // with the header
		has         string // in the body
	}{
		{"every page", "", 200, 3, "'=b@example.com"},
		{"bad since", "?since=yesterday", 400, 0, "bad since"},
		{"until before since", "?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", 400, 0, "bad until"},
		{"empty window", "?since=2027-01-01T00:00:00Z", 200, 1, "lead_id"},
	}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var he *httperr.Error
		if !errors.As(err, &he) {
			t.Fatalf("CSV error %v is no httperr.Error", err)
		}
		return c.Status(he.Code).JSON(he.Body())
	}})
	app.Get("/leads.csv", func(c *fiber.Ctx) error { return leadexport.CSV(c, st, now, nil) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/leads.csv"+tt.query, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code || !strings.Contains(string(raw), tt.has) {
				t.Fatalf("GET%s = %d %q, want %d with %q", tt.query, resp.StatusCode, raw, tt.code, tt.has)
			}
			if tt.code != 200 {
				return
			}
			rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(raw), "\uFEFF"))).ReadAll()
			if err != nil || len(rows) != tt.rows || strings.Join(rows[0], ",") != strings.Join(leadexport.Columns, ",") {
				t.Fatalf("rows %v (%v), want the header and %d rows", rows, err, tt.rows-1)
			}
		})
	}
}
