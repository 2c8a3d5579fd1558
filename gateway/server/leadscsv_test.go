package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/lead"
	"leadgate/gateway/leadexport"
	"leadgate/gateway/store"
)

// csvAnswer is a lead export's answer: the raw body and its rows.
type csvAnswer struct {
	code   int
	header http.Header
	raw    string
	rows   [][]string // the header row first
}

func (h *harness) exportCSV(t *testing.T, query string, keys bool) csvAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/admin/leads.csv"+query, nil)
	if keys {
		req.Header.Set("X-Access-Key", accessKey)
		req.Header.Set("X-Secret-Key", secretKey)
	}
	resp, err := h.srv.App().Test(req, -1)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", req.URL, err)
	}
	a := csvAnswer{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if a.code == fiber.StatusOK {
		a.rows = parseExport(t, a.raw)
	}
	return a
}

// parseExport checks the BOM and the CRLF line ends and reads the rows.
func parseExport(t *testing.T, raw string) [][]string {
	t.Helper()
	body, ok := strings.CutPrefix(raw, "\uFEFF")
	if !ok {
		t.Fatalf("export does not start with a UTF-8 BOM: %q", raw[:min(len(raw), 20)])
	}
	if !strings.HasSuffix(body, "\r\n") || strings.Count(body, "\n") != strings.Count(body, "\r\n") {
		t.Fatalf("export lines do not all end in CRLF: %q", body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export is not RFC 4180 CSV: %v\n%s", err, body)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], leadexport.Columns) {
		t.Fatalf("header row = %v, want %v", rows[:min(len(rows), 1)], leadexport.Columns)
	}
	return rows
}

// cell is row's value in column name.
func cell(t *testing.T, row []string, name string) string {
	t.Helper()
	i := slices.Index(leadexport.Columns, name)
	if i < 0 || i >= len(row) {
		t.Fatalf("no column %q in %v", name, row)
	}
	return row[i]
}

func TestLeadsCSV(t *testing.T) {
	h := newHarness(t)
	start := h.now
	post := func(at time.Duration, path, body string) string {
		t.Helper()
		h.now = start.Add(at)
		a := h.post(t, path, "application/json", body)
		if a.code != fiber.StatusOK {
			t.Fatalf("POST %s at +%v: %d %s", path, at, a.code, a.raw)
		}
		return a.body["lead_id"].(string)
	}
	ann := post(0, "/hooks/save_lead", `{"data": {"email": "ann@example.com", "first_name": "=HYPERLINK(\"http://evil.example\",\"x\")",
		"phone": "+1 (415) 555-0100", "score": 42, "notes": "one, \"two\"\nthree", "company": "-2+3", "budget": "5000", "city": "Zürich <HQ>"}}`)
	zoe := post(5*time.Minute, "/hooks/save_lead", `{"data": {"email": "zoe@example.com", "first_name": "Zoë", "last_name": "山田", "position": "@lead"}}`)
	web := post(10*time.Minute, "/hooks/website", ledsakSeed)
	h.now = start.Add(20 * time.Minute)

	a := h.exportCSV(t, "", true)
	if a.code != fiber.StatusOK {
		t.Fatalf("export: %d %s", a.code, a.raw)
	}
	if got := a.header.Get("Content-Type"); got != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got, want := a.header.Get("Content-Disposition"), `attachment; filename="leads-20261122T102000Z.csv"`; got != want {
		t.Errorf("Content-Disposition = %q, want %q", got, want)
	}
	if len(a.rows) != 4 {
		t.Fatalf("export has %d rows, want a header and 3 leads:\n%s", len(a.rows), a.raw)
	}
	var ids []string
	for _, r := range a.rows[1:] {
		ids = append(ids, cell(t, r, "lead_id"))
	}
	if want := []string{ann, zoe, web}; !slices.Equal(ids, want) {
		t.Fatalf("lead ids = %v, want %v (by last seen)", ids, want)
	}

	row := a.rows[1]
	for _, c := range []struct{ col, want string }{
		{"lead_version", "1"},
		{"email", "ann@example.com"},
		// Formula-looking cells are text, phones included.
		{"first_name", `'=HYPERLINK("http://evil.example","x")`},
		{"company", "'-2+3"},
		{"phone", "'+14155550100"},
		{"score", "42"},
		{"notes", "one, \"two\"\nthree"},
		{"assets", ""},
		{"first_seen", "2026-11-22T10:00:00.000Z"},
		{"last_seen", "2026-11-22T10:00:00.000Z"},
	} {
		if got := cell(t, row, c.col); got != c.want {
			t.Errorf("ann's %s = %q, want %q", c.col, got, c.want)
		}
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(cell(t, row, "fields")), &fields); err != nil || fields["budget"] != "5000" || fields["city"] != "Zürich <HQ>" {
		t.Errorf("ann's fields = %q (%v), want JSON with budget and city", cell(t, row, "fields"), err)
	}
	if !strings.Contains(a.raw, `"Zürich <HQ>"`) {
		t.Errorf("fields JSON escapes HTML or UTF-8: %s", a.raw)
	}
	// RFC 4180: a cell with a comma, quote or line break is quoted, quotes
	// doubled, the line break kept inside (as CRLF).
	if !strings.Contains(a.raw, "\"one, \"\"two\"\"\r\nthree\"") {
		t.Errorf("notes not quoted per RFC 4180 in %q", a.raw)
	}
	if got := cell(t, a.rows[2], "first_name") + " " + cell(t, a.rows[2], "last_name"); got != "Zoë 山田" {
		t.Errorf("zoe's name = %q, want UTF-8 kept", got)
	}
	if got := cell(t, a.rows[2], "position"); got != "'@lead" {
		t.Errorf("zoe's position = %q, want '@lead", got)
	}
	if got := cell(t, a.rows[3], "client"); got != "example_client" {
		t.Errorf("website lead's client = %q", got)
	}

	// Ann again, changed: version 2, last seen now, first seen kept, and
	// now the last row.
	post(15*time.Minute, "/hooks/save_lead", `{"data": {"email": "ann@example.com", "score": 50}}`)
	h.now = start.Add(20 * time.Minute)

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"all", "", []string{zoe, web, ann}},
		{"window", "?since=2026-11-22T10:05:00Z&until=2026-11-22T10:15:00Z", []string{zoe, web}},
		{"since only", "?since=2026-11-22T10:10:00Z", []string{web, ann}},
		{"until only", "?until=2026-11-22T10:10:00Z", []string{zoe}},
		{"other offset", "?since=2026-11-22T11:10:00%2B01:00", []string{web, ann}},
		{"offset's + unescaped", "?since=2026-11-22T11:10:00+01:00", []string{web, ann}},
		{"since before 1970", "?since=1960-01-01T00:00:00Z", []string{zoe, web, ann}},
		{"until before 1970", "?until=1960-01-01T00:00:00Z", nil},
		{"since past the year 2262", "?since=3000-01-01T00:00:00Z", nil},
		{"until past the year 2262", "?since=2026-11-22T10:10:00Z&until=3000-01-01T00:00:00Z", []string{web, ann}},
		{"source", "?source=save_lead", []string{zoe, ann}},
		{"source and window", "?source=save_lead&until=2026-11-22T10:10:00Z", []string{zoe}},
		{"unknown source", "?source=nobody", nil},
		{"empty window", "?since=2026-11-22T11:00:00Z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.exportCSV(t, tt.query, true)
			if a.code != fiber.StatusOK {
				t.Fatalf("export%s: %d %s", tt.query, a.code, a.raw)
			}
			var got []string
			for _, r := range a.rows[1:] {
				got = append(got, cell(t, r, "lead_id"))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("export%s = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
	last := h.exportCSV(t, "", true).rows[3]
	for _, c := range []struct{ col, want string }{
		{"lead_version", "2"}, {"score", "50"}, {"first_name", `'=HYPERLINK("http://evil.example","x")`},
		{"first_seen", "2026-11-22T10:00:00.000Z"}, {"last_seen", "2026-11-22T10:15:00.000Z"},
	} {
		if got := cell(t, last, c.col); got != c.want {
			t.Errorf("ann after her update: %s = %q, want %q", c.col, got, c.want)
		}
	}
}

func TestLeadsCSVEmpty(t *testing.T) {
	h := newHarness(t)
	a := h.exportCSV(t, "", true)
	if a.code != fiber.StatusOK || len(a.rows) != 1 {
		t.Fatalf("empty export: %d, %d rows: %q", a.code, len(a.rows), a.raw)
	}
}

func TestLeadsCSVRefusals(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name  string
		query string
		keys  bool
		code  int
		error string
	}{
		{"no keys", "", false, fiber.StatusUnauthorized, "admin keys missing or wrong"},
		{"since not a time", "?since=yesterday", true, fiber.StatusBadRequest, "bad since"},
		{"since a date only", "?since=2026-12-01", true, fiber.StatusBadRequest, "bad since"},
		{"until not a time", "?until=12%3A00", true, fiber.StatusBadRequest, "bad until"},
		{"until before since", "?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", true, fiber.StatusBadRequest, "bad until"},
		{"until equal to since", "?since=2026-12-01T00:00:00Z&until=2026-12-01T00:00:00Z", true, fiber.StatusBadRequest, "bad until"},
		{"source too long", "?source=" + strings.Repeat("s", 201), true, fiber.StatusBadRequest, "bad source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.exportCSV(t, tt.query, tt.keys)
			if a.code != tt.code {
				t.Fatalf("export%s: %d %s, want %d", tt.query, a.code, a.raw, tt.code)
			}
			var body httperr.Body
			if err := json.Unmarshal([]byte(a.raw), &body); err != nil || body.Error != tt.error {
				t.Fatalf("export%s answered %q, want JSON error %q", tt.query, a.raw, tt.error)
			}
			if tt.code == fiber.StatusBadRequest {
				param := strings.TrimPrefix(tt.error, "bad ")
				if len(body.Details) == 0 || !strings.Contains(fmt.Sprint(body.Details[0]), param) {
					t.Fatalf("details %v do not name %s", body.Details, param)
				}
			}
		})
	}
}

// TestLeadsCSVManyPages: more leads than one store page all come out, once
// each, in order.
func TestLeadsCSVManyPages(t *testing.T) {
	h := newHarness(t)
	const n = 2*leadexport.PageSize + 37
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				email := fmt.Sprintf("lead%04d@example.com", i)
				_, err := h.store.Ingest(context.Background(), store.IngestRequest{
					Source: "save_lead", Identity: []string{"email:" + email}, Lead: lead.Lead{Email: email},
					Emits: []string{lead.LeadCreated}, ReceivedAt: h.now.Add(time.Duration(i) * time.Millisecond),
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h.now = h.now.Add(time.Hour)
	a := h.exportCSV(t, "", true)
	if len(a.rows) != n+1 {
		t.Fatalf("export has %d rows, want a header and %d leads", len(a.rows), n)
	}
	for i, r := range a.rows[1:] {
		if want := fmt.Sprintf("lead%04d@example.com", i); cell(t, r, "email") != want {
			t.Fatalf("row %d is %s, want %s", i+1, cell(t, r, "email"), want)
		}
	}
}

// pagedLister hands out pages, then fails.
type pagedLister struct {
	pages [][]store.LeadRecord
	fail  error
}

func (p *pagedLister) Leads(_ context.Context, q store.LeadQuery) ([]store.LeadRecord, string, error) {
	i := 0
	if q.Cursor != "" {
		fmt.Sscan(q.Cursor, &i)
	}
	if i >= len(p.pages) {
		return nil, "", p.fail
	}
	return p.pages[i], fmt.Sprint(i + 1), nil
}

// TestLeadsCSVStoreFails: a store failure before the first byte is a JSON
// error; one after it cuts the download short instead of ending it like a
// complete file.
func TestLeadsCSVStoreFails(t *testing.T) {
	rec := store.LeadRecord{ID: "l1", Version: 1, Lead: lead.Lead{Email: "a@b.c"}}
	for _, tt := range []struct {
		name string
		st   *pagedLister
		code int
	}{
		{"before the first byte", &pagedLister{fail: fmt.Errorf("read: %w", store.ErrUnavailable)}, fiber.StatusServiceUnavailable},
		{"mid-stream", &pagedLister{pages: [][]store.LeadRecord{{rec}}, fail: fmt.Errorf("read: %w", store.ErrUnavailable)}, fiber.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			app := fiber.New(fiber.Config{ErrorHandler: h.srv.handleError, DisableStartupMessage: true})
			app.Get("/leads.csv", func(c *fiber.Ctx) error { return leadexport.CSV(c, tt.st, h.now, nil) })
			// A real connection: app.Test would report the cut itself
			// rather than show what a client sees.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go app.Listener(ln) //nolint:errcheck // ends with Shutdown
			t.Cleanup(func() { _ = app.Shutdown() })
			resp, err := http.Get("http://" + ln.Addr().String() + "/leads.csv")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			raw, err := io.ReadAll(resp.Body)
			if tt.code != fiber.StatusOK {
				if !bytes.Contains(raw, []byte(`"store unavailable, retry later"`)) {
					t.Fatalf("body %q, want the JSON error", raw)
				}
				return
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("reading a cut export: %v, want unexpected EOF (body %q)", err, raw)
			}
			if !bytes.Contains(raw, []byte("a@b.c")) {
				t.Fatalf("the page before the failure is missing: %q", raw)
			}
		})
	}
}
