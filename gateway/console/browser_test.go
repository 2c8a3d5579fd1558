package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromium finds Debian's chromium. Under CI=true or LEADGATE_REQUIRE_TOOLS=1
// a missing browser fails the test, so CI is only green when the browser
// tests really ran; elsewhere they are skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("LEADGATE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" || os.Getenv("LEADGATE_REQUIRE_TOOLS") == "1" {
		t.Fatal("chromium not found: apt-get install -y chromium (scripts/test.sh installs it)")
	}
	t.Skip("chromium not found; install it (apt-get install -y chromium) to run the browser tests")
	return ""
}

// browser is one headless Chromium tab on a test gateway.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot bool // a failure screenshot was taken
}

// newBrowser starts a fresh headless Chromium width px wide. When the test
// fails, a screenshot of the page is saved (see failureShot).
func newBrowser(t *testing.T, g *gateway, width int) *browser {
	t.Helper()
	path := chromium(t)
	profile, err := os.MkdirTemp("", "leadgate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, 900),
	)
	// The whole browser lives as long as the context of its first Run, so
	// the test's time limit is set there.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	b := &browser{t: t, ctx: ctx, base: g.base}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && !b.shot {
			b.failureShot(t)
		}
		cancelTime()
		cancelTab()
		cancelAlloc()
		os.RemoveAll(profile)
	})
	return b
}

// sub points b at subtest t, which gets its own failure screenshot of the
// page as it failed (not as the parent test left it).
func (b *browser) sub(t *testing.T) {
	b.t = t
	t.Cleanup(func() {
		if t.Failed() {
			b.failureShot(t)
		}
	})
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// failureShot saves a screenshot of the page as failure.png in t's own
// artifact folder and logs its path. That folder is the test's temp folder,
// removed when the test ends, unless go test runs with -artifacts (then it
// is kept under _artifacts/). With LEADGATE_SCREENSHOT_DIR set, a copy
// named after the test is kept there too.
func (b *browser) failureShot(t *testing.T) {
	b.shot = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("failure screenshot: %v", err)
		return
	}
	file := filepath.Join(t.ArtifactDir(), "failure.png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("failure screenshot: %v", err)
		return
	}
	t.Logf("failure screenshot: %s (kept with go test -artifacts or LEADGATE_SCREENSHOT_DIR)", file)
	keep := os.Getenv("LEADGATE_SCREENSHOT_DIR")
	if keep == "" {
		return
	}
	copyFile := filepath.Join(keep, unsafeName.ReplaceAllString(t.Name(), "_")+".png")
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Logf("failure screenshot: %v", err)
		return
	}
	if err := os.WriteFile(copyFile, png, 0o644); err != nil {
		t.Logf("failure screenshot: %v", err)
		return
	}
	t.Logf("failure screenshot kept: %s", copyFile)
}

// run runs actions, failing the test with what was being done.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value.
func eval[T any](b *browser, what, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// clickNow clicks the first element matching sel from inside the page, in
// one step, so a list re-rendered between finding and clicking cannot fail
// the test.
func (b *browser) clickNow(what, sel string) {
	b.t.Helper()
	b.eventually(what, `(() => { const el = document.querySelector(`+jsString(sel)+`); if (!el) return false; el.click(); return true })()`)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// eventually evaluates cond (a JavaScript expression) until it is true.
// Errors while the page navigates (a form post, a redirect) are retried.
func (b *browser) eventually(what, cond string) {
	b.t.Helper()
	b.eventuallyWithin(20*time.Second, what, cond)
}

// eventuallyWithin is eventually with its own time limit.
func (b *browser) eventuallyWithin(limit time.Duration, what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("Boolean("+cond+")"))
		if err == nil && ok {
			return
		}
		if b.ctx.Err() != nil {
			break
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("%s: %s never became true (last error: %v)", what, cond, last)
}

// bypassCSP lets the test inject axe-core into pages whose policy allows
// only the console's own scripts.
func bypassCSP() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
		return err
	})
}

func (b *browser) signIn(access, secret string) {
	b.t.Helper()
	b.run("sign in",
		chromedp.Navigate(b.base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#access_key")),
		chromedp.SendKeys(chromedp.CSS("#access_key"), access),
		chromedp.SendKeys(chromedp.CSS("#secret_key"), secret),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	b.eventually("signed in or refused", `document.readyState === 'complete' && `+
		`(document.querySelector('main[data-ready]') !== null || document.querySelector('#signin-error') !== null)`)
}

// open goes to a console page and waits until it has rendered afresh.
func (b *browser) open(hash, page string) {
	b.t.Helper()
	onConsole := eval[bool](b, "where", `location.pathname === '/ui/' && document.querySelector('main[data-ready]') !== null`)
	if !onConsole {
		b.run("open "+hash, chromedp.Navigate(b.base+"/ui/"+hash))
	} else {
		// A new hash is a same-document navigation: the app re-renders on
		// hashchange, sent by hand when the hash is already there.
		b.run("open "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const main = document.querySelector('main');
			delete main.dataset.ready;
			if (location.hash === %[1]q) window.dispatchEvent(new HashChangeEvent('hashchange'));
			else location.hash = %[1]q;
		})()`, hash)))
	}
	b.eventually("page "+page+" ready", fmt.Sprintf(`document.querySelector('main[data-ready=%q]') !== null`, page))
}

func TestBrowserSignIn(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	b := newBrowser(t, g, 1280)
	b.signIn(testAccess, "wrong secret")
	b.run("wait for the form again", chromedp.WaitVisible(chromedp.CSS("#signin-error")))
	if got := b.text("#signin-error"); !strings.Contains(got, "not right") {
		t.Fatalf("error = %q", got)
	}
	url, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(url, testSecret) || strings.Contains(url, "wrong") {
		t.Fatalf("keys in the URL: %s", url)
	}
	b.signIn(testAccess, testSecret)
	b.eventually("overview after sign-in", `document.querySelector('main[data-ready="overview"]') !== null`)
	cookies := eval[string](b, "read document.cookie", `document.cookie`)
	if cookies != "" {
		t.Fatalf("script can read cookies %q: the session cookie must be HttpOnly", cookies)
	}
	if got := b.text("main h1"); got != "Overview" {
		t.Fatalf("h1 = %q", got)
	}
	b.eventually("destination listed", `document.querySelector('#ov').textContent.includes('crm')`)
}

func TestBrowserPlayground(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	b := newBrowser(t, g, 1280)
	b.signIn(testAccess, testSecret)
	b.open("#/playground", "playground")
	b.run("load the Leadsie seed", chromedp.Click(chromedp.CSS(`button[data-sample="leadsie"]`)))
	b.eventually("events shown", `document.querySelector('#pg-events') !== null`)
	if got := b.text("#pg-events"); !strings.Contains(got, "connection.created") {
		t.Fatalf("events = %q", got)
	}
	// The per-type breakdown: each asset type's id, name and success.
	rows := eval[[][]string](b, "read the field table", `[...document.querySelectorAll('#pg-result tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`)
	got := map[string][]string{}
	for _, r := range rows {
		got[r[0]] = r[1:]
	}
	for field, want := range map[string][2]string{
		"fields.ad_account_id":    {"act_1001", "group_by"},
		"fields.pixel_is_success": {"true", "group_by"},
		"fields.page_name":        {"Acme Page", "group_by"},
		"user":                    {"user123456", "query"},
	} {
		r, ok := got[field]
		if !ok || r[0] != want[0] || r[2] != want[1] {
			t.Fatalf("row %s = %v, want value %q from %q", field, r, want[0], want[1])
		}
	}
	// A pasted mapping's error shows with its line.
	b.run("paste a broken mapping",
		chromedp.SetValue(chromedp.CSS("#pg-mapping"), "events: [lead.created]\nfields:\n  email: data.mail\n  nonsense_target: data.x\n"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#pg-mapping').dispatchEvent(new Event('input'))`),
	)
	b.eventually("problem shown", `document.querySelector('#pg-problems') !== null`)
	if got := b.text("#pg-problems"); !strings.Contains(got, "Line 4:") {
		t.Fatalf("problems = %q", got)
	}
}

func TestBrowserDeadLetterReplay(t *testing.T) {
	s := newSink(t, http.StatusBadRequest)
	g := startGateway(t, s.srv.URL+"/leads")
	b := newBrowser(t, g, 1280)
	b.signIn(testAccess, testSecret)
	leadID := postLead(t, g, "save_lead", `{"data": {"email": "dead@example.com", "first_name": "Dee"}}`)

	deadline := time.Now().Add(20 * time.Second)
	for {
		b.open("#/dead-letters/crm", "dead-letters")
		n := eval[int](b, "count dead letters", `document.querySelectorAll('button[data-replay]').length`)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 400 never reached the dead letters")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := b.text("#dl-results"); !strings.Contains(got, "400") {
		t.Fatalf("dead letter without its last error: %q", got)
	}
	s.code.Store(http.StatusOK)
	b.run("replay from the page",
		chromedp.Click(chromedp.CSS(`button[data-replay]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
	)
	b.eventually("replay result shown", `document.querySelector('#dl-notice').textContent.includes('Replayed 1')`)
	b.eventually("dead letters emptied", `document.querySelector('#dl-empty') !== null`)

	// The event now shows the delivery and both attempts.
	deadline = time.Now().Add(20 * time.Second)
	for {
		b.open("#/events", "events")
		b.run("search the lead", chromedp.SetValue(chromedp.CSS("#ev-q"), leadID), chromedp.Click(chromedp.CSS("#ev-search")))
		// The page lists the latest events before the search answers, so
		// wait for the search's own result, then click in the page in one
		// step: a re-render between finding a node and clicking it fails.
		b.eventually("search result", "document.querySelectorAll('#ev-results tbody tr').length === 1 && document.querySelector('#ev-results').textContent.includes("+jsString(leadID)+")")
		b.clickNow("open the event", "#ev-results a")
		b.eventually("detail", `document.querySelector('main[data-ready="events"] .delivery') !== null`)
		if strings.Contains(b.text("main .delivery h3"), "delivered") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed event never delivered: %q", b.text("main .delivery"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	codes := eval[[]string](b, "read attempts", `[...document.querySelectorAll('main .delivery tbody tr')].map(tr => tr.cells[2].textContent)`)
	if strings.Join(codes, ",") != "400,200" {
		t.Fatalf("attempt codes = %v, want 400 then 200", codes)
	}
}

func TestBrowserSearchEvent(t *testing.T) {
	s := newSink(t, http.StatusOK)
	g := startGateway(t, s.srv.URL+"/leads")
	b := newBrowser(t, g, 1280)
	b.signIn(testAccess, testSecret)
	postLead(t, g, "save_lead", `{"data": {"email": "someone.else@example.com"}}`)
	postLead(t, g, "save_lead", `{"data": {"email": "John.Search@Example.com", "first_name": "John", "score": 7}}`)
	deadline := time.Now().Add(20 * time.Second)
	for s.hits.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries never reached the sink")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.open("#/events", "events")
	b.run("search by email",
		chromedp.SendKeys(chromedp.CSS("#ev-q"), "john.search@example.com"),
		chromedp.SendKeys(chromedp.CSS("#ev-q"), kb.Enter),
	)
	b.eventually("one result", `document.querySelectorAll('#ev-results tbody tr').length === 1`)
	if got := b.text("#ev-results tbody"); !strings.Contains(got, "john.search@example.com") || strings.Contains(got, "someone.else") {
		t.Fatalf("results = %q", got)
	}
	b.clickNow("open the event", "#ev-results a")
	b.eventually("attempts shown", `document.querySelector('main .delivery tbody tr') !== null`)
	cells := eval[[]string](b, "read the attempt", `[...document.querySelector('main .delivery tbody tr').cells].map(td => td.textContent)`)
	if len(cells) != 5 || cells[2] != "200" || !strings.HasSuffix(cells[3], " ms") || !strings.HasSuffix(cells[1], "UTC") {
		t.Fatalf("attempt row = %v, want #, time, 200, duration, error", cells)
	}
	if got := b.text("#ev-body"); !strings.Contains(got, `"email": "john.search@example.com"`) {
		t.Fatalf("canonical body = %q", got)
	}
	if got := b.text("main"); strings.Contains(got, "crm-secret-header-value") || strings.Contains(got, "whsec_") {
		t.Fatalf("the page shows a secret")
	}
}

func TestBrowserKeyboard(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	b := newBrowser(t, g, 390)
	b.signIn(testAccess, testSecret)
	b.eventually("overview", `document.querySelector('main[data-ready="overview"]') !== null`)
	// Tab: the skip link, then the navigation, in order.
	var order []string
	for range 3 {
		b.run("tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, eval[string](b, "focused", `document.activeElement.textContent.trim()`))
	}
	if strings.Join(order, "|") != "Skip to content|Overview|Playground" {
		t.Fatalf("tab order = %v", order)
	}
	b.run("enter", chromedp.KeyEvent(kb.Enter))
	b.eventually("playground by keyboard", `document.querySelector('main[data-ready="playground"]') !== null`)
	focused := eval[string](b, "focus", `document.activeElement.tagName + ':' + document.activeElement.textContent`)
	if focused != "H1:Mapping playground" {
		t.Fatalf("focus after navigating = %q, want the page heading", focused)
	}
	// The sample buttons work from the keyboard too.
	b.run("sample by keyboard", chromedp.Focus(chromedp.CSS(`button[data-sample="save_lead"]`)), chromedp.KeyEvent(kb.Enter))
	b.eventually("preview", `document.querySelector('#pg-events') !== null`)
}

// overviewRows is a JavaScript expression reading the overview's tables:
// {sources: {name: cells}, destinations: {name: cells}, dead: queue card};
// a cell with a chart reads as its number.
const overviewRows = `(() => {
	const rows = label => Object.fromEntries([...document.querySelectorAll('#ov [aria-label="' + label + '"] tbody tr')]
		.map(tr => [...tr.cells].map(td => (td.querySelector('.value') || td).textContent.trim())).map(r => [r[0], r]));
	const dead = [...document.querySelectorAll('#ov dl.cards div')].find(d => d.querySelector('dt').textContent === 'Dead letters');
	return {sources: rows('Sources'), destinations: rows('Destinations'), dead: dead ? dead.querySelector('dd').textContent : ''};
})()`

type overviewState struct {
	Sources      map[string][]string `json:"sources"`
	Destinations map[string][]string `json:"destinations"`
	Dead         string              `json:"dead"`
}

// TestBrowserOverviewRefreshes: the overview, left open, picks up new
// traffic by itself: leads posted after it rendered show in the source's
// rates, and a destination answering 400 turns failing with dead letters,
// without the page being reloaded.
func TestBrowserOverviewRefreshes(t *testing.T) {
	s := newSink(t, http.StatusBadRequest)
	g := startGateway(t, s.srv.URL+"/leads")
	b := newBrowser(t, g, 1280)
	b.signIn(testAccess, testSecret)
	b.eventually("overview tables", `document.querySelectorAll('#ov table').length === 2`)
	before := eval[overviewState](b, "read the overview", overviewRows)
	if src, dst := before.Sources["save_lead"], before.Destinations["crm"]; len(src) != 5 || src[1] != "0.0" ||
		len(dst) != 6 || dst[1] != "ok" || dst[5] != "0" || before.Dead != "0" {
		t.Fatalf("overview before any lead = %+v, want save_lead at 0.0/min and crm ok without dead letters", before)
	}
	// A reload would drop this mark.
	b.run("mark the page", chromedp.Evaluate[chromedp.Void](`window.leadgateNotReloaded = true`))
	for i := range 3 {
		postLead(t, g, "save_lead", fmt.Sprintf(`{"data": {"email": "live%d@example.com"}}`, i))
	}
	// Rates need 10 s of samples and the page redraws every 5 s.
	b.eventuallyWithin(45*time.Second, "the overview refreshed with the new traffic", `(() => {
		const v = `+overviewRows+`;
		const src = v.sources['save_lead'], dst = v.destinations['crm'];
		return Number(src[1]) > 0 && Number(src[2]) > 0 && dst[1] === 'failing' && Number(dst[4]) > 0 && Number(dst[5]) > 0 && Number(v.dead) > 0;
	})()`)
	after := eval[overviewState](b, "read the overview", overviewRows)
	if !eval[bool](b, "the mark", `window.leadgateNotReloaded === true && location.hash !== '#/dead-letters/crm'`) {
		t.Fatalf("the page was reloaded or left: the refresh must redraw in place")
	}
	if got, want := after.Destinations["crm"][5], after.Dead; got != want {
		t.Fatalf("crm shows %s dead letters, the queue %s", got, want)
	}
	if n := eval[int](b, "dead letter link", `document.querySelectorAll('#ov a[href="#/dead-letters/crm"]').length`); n != 1 {
		t.Fatalf("crm's dead letters do not link to its dead letters (%d links)", n)
	}
}

// TestBrowserSkipLink: the skip link, pressed from the keyboard, moves
// focus to the page's content and leaves the page and its address alone
// (it once routed "#main" to the overview).
func TestBrowserSkipLink(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	b := newBrowser(t, g, 1280)
	b.signIn(testAccess, testSecret)
	b.eventually("overview", `document.querySelector('main[data-ready="overview"]') !== null`)
	// A fresh load of the page, so focus starts at the top of the document.
	b.run("load the playground", chromedp.Navigate("about:blank"), chromedp.Navigate(b.base+"/ui/#/playground"))
	b.eventually("playground", `document.querySelector('main[data-ready="playground"]') !== null`)
	b.run("tab", chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, "focused", `document.activeElement.textContent.trim()`); got != "Skip to content" {
		t.Fatalf("first tab stop = %q, want the skip link", got)
	}
	b.run("press the skip link", chromedp.KeyEvent(kb.Enter))
	b.eventually("focus on main", `document.activeElement === document.querySelector('main')`)
	// A hashchange is handled asynchronously: give a wrong route the time
	// to replace the page before checking it did not.
	time.Sleep(500 * time.Millisecond)
	state := eval[[]string](b, "page state", `[location.hash, document.querySelector('main').dataset.ready || '', document.querySelector('main h1').textContent, document.activeElement.id]`)
	if strings.Join(state, "|") != "#/playground|playground|Mapping playground|main" {
		t.Fatalf("after the skip link: hash, page, heading, focus = %q, want the playground still, focus on main", state)
	}
	b.run("tab into the content", chromedp.KeyEvent(kb.Tab))
	if !eval[bool](b, "focus inside main", `document.querySelector('main').contains(document.activeElement) && document.activeElement !== document.querySelector('main')`) {
		t.Fatalf("the next tab stop is not inside the content: %s", eval[string](b, "focused", `document.activeElement.outerHTML.slice(0, 120)`))
	}
	// A hash that is not a page, typed or followed, leaves the page alone too.
	b.run("go to #main", chromedp.Evaluate[chromedp.Void](`location.hash = '#main'`))
	time.Sleep(500 * time.Millisecond)
	if got := eval[string](b, "page", `document.querySelector('main').dataset.ready + '|' + document.querySelector('main h1').textContent`); got != "playground|Mapping playground" {
		t.Fatalf("after #main the page is %q, want the playground", got)
	}
}

// pages are every console page, with what they need to show content.
var pages = []struct{ name, hash, ready string }{
	{"overview", "#/overview", "overview"},
	{"playground", "#/playground", "playground"},
	{"events", "#/events", "events"},
	{"event", "", "events"},
	{"dead-letters", "#/dead-letters", "dead-letters"},
	{"subscriptions", "#/subscriptions", "subscriptions"},
}

// axeResult is the part of axe.run's answer the test reads.
type axeResult struct {
	Passes []struct {
		ID string `json:"id"`
	} `json:"passes"`
	Violations []struct {
		ID    string `json:"id"`
		Help  string `json:"help"`
		Nodes []struct {
			Target  []any  `json:"target"`
			Summary string `json:"failureSummary"`
		} `json:"nodes"`
	} `json:"violations"`
}

// TestBrowserAccessibility runs axe-core (vendored in testdata, never
// served) on every page at 1280 and 390 px, after sign-in and with data on
// each page, and asserts no WCAG 2 A/AA violation (labels and contrast
// among them) and no sideways scrolling. With LEADGATE_SCREENSHOTS=1 it
// also writes the README's screenshots into screenshots/, but for the
// overview's (TestBrowserOverviewCharts).
func TestBrowserAccessibility(t *testing.T) {
	axe, err := os.ReadFile("testdata/axe.min.js")
	if err != nil {
		t.Fatalf("vendored axe-core: %v", err)
	}
	s := newSink(t, http.StatusBadRequest)
	g := startGateway(t, s.srv.URL+"/leads")
	seedConsole(t, g, s)
	if os.Getenv("LEADGATE_SCREENSHOTS") == "1" {
		time.Sleep(11 * time.Second) // so the overview's rates cover a real span
	}
	for _, width := range []int{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			b := newBrowser(t, g, width)
			b.run("bypass CSP for axe", bypassCSP())
			b.signIn(testAccess, testSecret)
			b.eventually("overview", `document.querySelector('main[data-ready="overview"]') !== null`)
			eventID := eval[string](b, "an event id", `fetch('/ui/api/events?limit=1', {headers: {'X-Leadgate-Console': '1'}}).then(r => r.json()).then(d => d.items[0].id)`)
			for _, pg := range pages {
				t.Run(pg.name, func(t *testing.T) {
					b.sub(t)
					hash := pg.hash
					if hash == "" {
						hash = "#/events/" + eventID
					}
					b.open(hash, pg.ready)
					switch pg.name {
					case "playground":
						b.run("load a sample", chromedp.Click(chromedp.CSS(`button[data-sample="leadsie"]`)))
						b.eventually("preview", `document.querySelector('#pg-events') !== null`)
					case "overview":
						b.eventually("overview tables", `document.querySelectorAll('#ov table').length === 2`)
					}
					b.checkA11y(axe)
					overflow := eval[bool](b, "overflow", `document.documentElement.scrollWidth > window.innerWidth + 1`)
					if overflow {
						t.Fatalf("the page scrolls sideways at %d px", width)
					}
					// The overview's screenshots, with an hour of charts, are
					// TestBrowserOverviewCharts's.
					if os.Getenv("LEADGATE_SCREENSHOTS") == "1" && pg.name != "overview" {
						b.saveScreenshot(fmt.Sprintf("screenshots/%s-%d.png", pg.name, width))
					}
				})
			}
			t.Run("sign-in", func(t *testing.T) {
				b.sub(t)
				b.run("sign out", chromedp.Click(chromedp.CSS("#signout")))
				b.run("form", chromedp.WaitVisible(chromedp.CSS("#access_key")))
				b.checkA11y(axe)
				if os.Getenv("LEADGATE_SCREENSHOTS") == "1" {
					b.saveScreenshot(fmt.Sprintf("screenshots/sign-in-%d.png", width))
				}
			})
		})
	}
}

func (b *browser) checkA11y(axe []byte) {
	b.t.Helper()
	b.run("load axe", chromedp.Evaluate[chromedp.Void](string(axe)))
	res := eval[axeResult](b, "run axe", `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})`)
	passed := map[string]bool{}
	for _, p := range res.Passes {
		passed[p.ID] = true
	}
	if !passed["color-contrast"] {
		b.t.Fatalf("axe did not check contrast: passes %v", res.Passes)
	}
	if len(res.Violations) > 0 {
		var msg strings.Builder
		for _, v := range res.Violations {
			fmt.Fprintf(&msg, "\n%s: %s", v.ID, v.Help)
			for _, n := range v.Nodes {
				fmt.Fprintf(&msg, "\n    %v: %s", n.Target, n.Summary)
			}
		}
		b.t.Fatalf("accessibility violations:%s", msg.String())
	}
}

func (b *browser) saveScreenshot(file string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// seedConsole gives every page something to show: leads from each source,
// a dead letter, and a subscription.
func seedConsole(t *testing.T, g *gateway, s *sink) {
	t.Helper()
	postLead(t, g, "save_lead", `{"data": {"email": "johndoe@example.com", "first_name": "John", "last_name": "Doe", "phone": "+14155550100", "score": 42}}`)
	postLead(t, g, "website", `{"client": "example_client", "source": "website", "branch": "Main Branch", "lead_details": [{"lead_field": "name", "lead_value": "Jane Roe"}, {"lead_field": "email", "lead_value": "jane@example.com"}]}`)
	res, body := do(t, http.MethodPost, g.base+"/hooks/leadsie?customUserId=user123456", string(readFile(t, "../../mappings/testdata/leadsie/seed_success.json")),
		map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("leadsie = %d %s", res.StatusCode, body)
	}
	create := `{"Description": "Sales CRM", "URL": "https://crm.example.com/hook?key=secret", "Method": "POST",
		"ContentType": "application/json", "WebhookEvent": 3}`
	if res, body := do(t, http.MethodPost, g.base+"/v2/Webhook.svc/Create?accessKey="+testAccess+"&secretKey="+testSecret, create,
		map[string]string{"Content-Type": "application/json"}); res.StatusCode != http.StatusOK {
		t.Fatalf("create subscription = %d %s", res.StatusCode, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		items, _, err := g.store.DeadLetters(context.Background(), "crm", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) >= 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters = %d, want 3", len(items))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
