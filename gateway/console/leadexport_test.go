package console_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// exportRows reads a lead export's body into its rows after the BOM.
func exportRows(t *testing.T, body string) [][]string {
	t.Helper()
	rest, ok := strings.CutPrefix(body, "\uFEFF")
	if !ok {
		t.Fatalf("export without BOM: %q", body)
	}
	rows, err := csv.NewReader(strings.NewReader(rest)).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "lead_id" {
		t.Fatalf("export is not the lead CSV (%v): %q", err, body)
	}
	return rows
}

// TestExportLeads: the Events page's export link answers the admin API's
// CSV to a signed-in console (the session cookie alone: a link cannot send
// the anti-forgery header), narrowed as the admin route narrows it, and
// nothing without a session.
func TestExportLeads(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	saved := postLead(t, g, "save_lead", `{"data": {"email": "saved@example.com", "first_name": "Sam"}}`)
	web := postLead(t, g, "website", `{"email": "web@example.com", "name": "Wendy Web"}`)
	cookie := sessionCookie(t, g)
	link := g.base + "/ui/export/leads.csv"

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"all", "", []string{saved, web}},
		{"source", "?source=website", []string{web}},
		{"window after both", "?since=2999-01-01T00:00:00Z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, http.MethodGet, link+tt.query, "", map[string]string{"Cookie": cookie})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("export%s = %d %s", tt.query, res.StatusCode, body)
			}
			if ct, cd := res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || !strings.HasPrefix(cd, `attachment; filename="leads-`) {
				t.Fatalf("export headers: Content-Type %q, Content-Disposition %q", ct, cd)
			}
			var got []string
			for _, r := range exportRows(t, body)[1:] {
				got = append(got, r[0])
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("export%s lists %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	for _, tt := range []struct {
		name   string
		url    string
		header map[string]string
		code   int
	}{
		{"no session", link, nil, http.StatusUnauthorized},
		{"a forged cookie", link, map[string]string{"Cookie": "leadgate_console=9999999999.AAAA"}, http.StatusUnauthorized},
		{"admin keys are not a session", link, map[string]string{"X-Access-Key": testAccess, "X-Secret-Key": testSecret}, http.StatusUnauthorized},
		{"bad since", link + "?since=last%20week", map[string]string{"Cookie": cookie}, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, http.MethodGet, tt.url, "", tt.header)
			if res.StatusCode != tt.code || !strings.Contains(body, `"error"`) {
				t.Fatalf("GET %s = %d %s, want %d with a JSON error", tt.url, res.StatusCode, body, tt.code)
			}
		})
	}

	// A signed-out session exports nothing, though its cookie is still
	// valid on its face.
	if res, _ := do(t, http.MethodPost, g.base+"/ui/api/logout", "", consoleHeaders(cookie)); res.StatusCode != http.StatusOK {
		t.Fatalf("logout = %d", res.StatusCode)
	}
	if res, body := do(t, http.MethodGet, link, "", map[string]string{"Cookie": cookie}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("export after sign-out = %d %s", res.StatusCode, body)
	}
}

// TestBrowserExportLeads: the Events page has an Export link that carries
// the chosen window and source, and following it from the page downloads
// the CSV of those leads.
func TestBrowserExportLeads(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	b := newBrowser(t, g, 1280)
	b.signIn(testAccess, testSecret)
	postLead(t, g, "save_lead", `{"data": {"email": "saved@example.com"}}`)
	postLead(t, g, "website", `{"email": "web@example.com", "name": "Wendy Web"}`)
	b.open("#/events", "events")
	if got := eval[string](b, "link", `document.querySelector('#ev-export').getAttribute('href')`); got != "/ui/export/leads.csv" {
		t.Fatalf("export link = %q, want /ui/export/leads.csv", got)
	}
	b.run("choose a source and a start",
		chromedp.SetValue(chromedp.CSS("#ex-source"), "website"),
		chromedp.SetValue(chromedp.CSS("#ex-since"), "2001-02-03T04:05:06"),
		chromedp.Evaluate[chromedp.Void](`['#ex-source', '#ex-since'].forEach(s => document.querySelector(s).dispatchEvent(new Event('change')))`),
	)
	href := eval[string](b, "link", `document.querySelector('#ev-export').getAttribute('href')`)
	want := eval[string](b, "the start in UTC", `'/ui/export/leads.csv?since=' + encodeURIComponent(new Date('2001-02-03T04:05:06').toISOString()) + '&source=website'`)
	if href != want {
		t.Fatalf("export link = %q, want %q", href, want)
	}
	// What the link downloads: fetched as the browser follows it, with the
	// session cookie and no console header (text() drops the BOM).
	body := eval[string](b, "download", `fetch(document.querySelector('#ev-export').href, {credentials: 'same-origin'}).then(r => r.text())`)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 || !strings.Contains(strings.Join(rows[1], ","), "web@example.com") {
		t.Fatalf("export from the page = %q (%v), want the website lead only", body, err)
	}
}
