// Package leadexport writes the lead export: the leads last seen in a
// window as a CSV download (contract section 7), streamed a store page at a
// time. The admin API (GET /admin/leads.csv) and the console's Export link
// both serve it through CSV, so the two downloads cannot drift apart.
package leadexport

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/requestid"
	"leadgate/gateway/store"
	"leadgate/gateway/storehttp"
)

// Lister is what the lead export needs of the store.
type Lister interface {
	Leads(ctx context.Context, q store.LeadQuery) ([]store.LeadRecord, string, error)
}

// Columns is the lead export's header row, in column order.
var Columns = []string{
	"lead_id", "lead_version",
	"email", "phone", "first_name", "last_name", "full_name", "company", "website", "position",
	"twitter", "linkedin", "notes", "score", "client", "branch", "landing_page", "user", "status",
	"assets", "fields", "first_seen", "last_seen",
}

const (
	// PageSize is how many leads the export reads per store call: the
	// export holds one page at a time, whatever the number of leads.
	PageSize = 500
	// readTimeout bounds one page's store read; fiber.Ctx is never
	// cancelled, so the export makes its own deadline.
	readTimeout = 10 * time.Second
	// exportWriteIdle is how long the export waits for the client to take
	// a page before it gives up on the connection. The listener's write
	// timeout bounds a whole response, which a large export may outlast;
	// the export pushes the deadline on before each page instead.
	exportWriteIdle = 30 * time.Second
	// maxSourceName bounds ?source=.
	maxSourceName = 200
	// exportTimeFormat writes first and last seen: RFC 3339 in UTC, to the
	// millisecond (what both stores keep), so a row's last_seen can be
	// passed back as since.
	exportTimeFormat = "2006-01-02T15:04:05.000Z07:00"
)

// utf8BOM starts the file so that Excel reads it as UTF-8, not as the
// machine's legacy code page.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// CSV answers GET leads.csv?since=&until=&source=: the leads last seen
// in [since, until) (RFC 3339 times, each optional; the window ends at the
// latest when the export starts, so a lead seen while it runs is not
// listed twice), of one source when source is set, as a CSV download of
// Columns, oldest last seen first. It streams: the store is read a
// page at a time, each page in a short read of its own, while the client
// downloads. A bad parameter is a 400 naming it; a store failure before
// the first byte is the usual JSON error, and one after it cuts the
// download short (no final chunk), so a client sees a failed transfer and
// never a file that merely looks complete. The admin API and the console
// both serve it through this function.
func CSV(c *fiber.Ctx, st Lister, now time.Time, log *slog.Logger) error {
	q, err := leadQuery(c, now)
	if err != nil {
		return err
	}
	var (
		first []store.LeadRecord
		next  string
	)
	if !emptyWindow(q) {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		first, next, err = st.Leads(ctx, q)
		cancel()
		if err != nil {
			return storehttp.Error(err, "leads")
		}
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="leads-`+now.UTC().Format("20060102T150405Z")+`.csv"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	conn := c.Context().Conn()
	requestID := requestid.Get(c)
	pr, pw := io.Pipe()
	go func() {
		err := streamLeads(pw, st, q, first, next, func() {
			if conn != nil {
				_ = conn.SetWriteDeadline(time.Now().Add(exportWriteIdle))
			}
		})
		if err != nil && !errors.Is(err, io.ErrClosedPipe) && log != nil {
			log.Error("lead export cut short", "request_id", requestID, "error", err.Error())
		}
		pw.CloseWithError(err)
	}()
	// A body stream of unknown size goes out chunked; fasthttp closes the
	// reader when the client goes away, which ends the writer above.
	c.Context().SetBodyStream(pr, -1)
	return nil
}

// leadQuery reads the export's parameters.
func leadQuery(c *fiber.Ctx, now time.Time) (store.LeadQuery, error) {
	q := store.LeadQuery{Limit: PageSize}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		// A "+09:00" offset sent without escaping arrives as " 09:00".
		v := strings.ReplaceAll(strings.TrimSpace(c.Query(p.name)), " ", "+")
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return q, &httperr.Error{Code: fiber.StatusBadRequest, Msg: "bad " + p.name,
				Details: []any{p.name + " must be an RFC 3339 time, such as 2026-12-01T00:00:00Z"}}
		}
		*p.to = t
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return q, &httperr.Error{Code: fiber.StatusBadRequest, Msg: "bad until", Details: []any{"until must be after since"}}
	}
	q.Source = strings.TrimSpace(c.Query("source"))
	if len(q.Source) > maxSourceName {
		return q, &httperr.Error{Code: fiber.StatusBadRequest, Msg: "bad source",
			Details: []any{"source must be a source's name, at most " + strconv.Itoa(maxSourceName) + " bytes"}}
	}
	// Stores keep milliseconds: the export's own millisecond is in.
	if end := now.Truncate(time.Millisecond).Add(time.Millisecond); q.Until.IsZero() || q.Until.After(end) {
		q.Until = end
	}
	// Every lead was seen after 1970: an earlier since is no bound (and
	// would not fit the stores' Unix times).
	if q.Since.Before(time.Unix(0, 0)) {
		q.Since = time.Time{}
	}
	return q, nil
}

// emptyWindow says q can match no lead: it starts at or after its end
// (a since after the export's start), or ends before 1970.
func emptyWindow(q store.LeadQuery) bool {
	return (!q.Since.IsZero() && !q.Since.Before(q.Until)) || !q.Until.After(time.Unix(0, 0))
}

// streamLeads writes the BOM, the header row and a row per lead, reading
// the pages after first from the store; progress is called before each
// page is written.
func streamLeads(w io.Writer, st Lister, q store.LeadQuery, first []store.LeadRecord, next string, progress func()) error {
	progress()
	if _, err := w.Write(utf8BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(Columns); err != nil {
		return err
	}
	row := make([]string, len(Columns))
	page := first
	for {
		for i := range page {
			var err error
			if row, err = leadRow(row[:0], &page[i]); err != nil {
				return err
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		q.Cursor = next
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		var err error
		page, next, err = st.Leads(ctx, q)
		cancel()
		if err != nil {
			return err
		}
		progress()
	}
}

// leadRow appends r's cells to row, in Columns order.
func leadRow(row []string, r *store.LeadRecord) ([]string, error) {
	l := &r.Lead
	assets, err := jsonCell(len(l.Assets) > 0, l.Assets)
	if err != nil {
		return nil, fmt.Errorf("lead %s: assets: %w", r.ID, err)
	}
	fields, err := jsonCell(len(l.Fields) > 0, l.Fields)
	if err != nil {
		return nil, fmt.Errorf("lead %s: fields: %w", r.ID, err)
	}
	score := "" // a zero score is no score, as in the canonical event
	if l.Score != 0 {
		score = strconv.FormatInt(l.Score, 10)
	}
	return append(row, r.ID, strconv.FormatInt(r.Version, 10),
		safeCell(l.Email), safeCell(l.Phone), safeCell(l.FirstName), safeCell(l.LastName), safeCell(l.FullName),
		safeCell(l.Company), safeCell(l.Website), safeCell(l.Position), safeCell(l.Twitter), safeCell(l.LinkedIn),
		safeCell(l.Notes), score, safeCell(l.Client), safeCell(l.Branch), safeCell(l.LandingPage),
		safeCell(l.User), safeCell(l.Status), assets, fields, exportTime(r.FirstSeen), exportTime(r.LastSeen)), nil
}

// jsonCell is v as compact JSON, without HTML escaping (a spreadsheet
// shows "<" better than "\u003c"), or "" when has is false.
func jsonCell(has bool, v any) (string, error) {
	if !has {
		return "", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func exportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(exportTimeFormat)
}

// safeCell defuses CSV injection (OWASP): a spreadsheet runs a cell that
// starts with =, +, - or @ as a formula, and tab and carriage return can
// hide such a start, so a cell starting with any of them gets a leading
// apostrophe and is shown as text. Everything a payload sent goes through
// it, phones included ("+14155550100" becomes "'+14155550100", which also
// keeps a spreadsheet from turning it into a number).
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
