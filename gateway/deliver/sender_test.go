package deliver

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/policy"
)

var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("leadgate test secret 0123456789"))

func TestHTTPSenderHeadersAndSignature(t *testing.T) {
	type seen struct {
		method string
		header http.Header
		body   []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	clock := newTestClock()
	s := &HTTPSender{Version: "1.2.3", Now: clock.Now}
	d := &Destination{
		Name: "crm", URL: srv.URL, Method: "PUT", ContentType: ContentForm, Format: FormatSaveLead,
		Headers: []Header{{"X-Api-Key", "k1"}, {"X-Multi", "a"}, {"X-Multi", "b"}},
		Secrets: []string{testSecret}, AllowPrivate: true,
	}
	res, err := s.Send(context.Background(), d, sampleEvent())
	if err != nil || res.Code != http.StatusNoContent {
		t.Fatalf("Send = %+v, %v; want 204, nil", res, err)
	}
	r := <-got
	want := map[string]string{
		"Content-Type":      ContentForm,
		"User-Agent":        "leadgate/1.2.3",
		"Webhook-Id":        "evt_1",
		"Webhook-Timestamp": "1795341600",
		"X-Api-Key":         "k1",
	}
	for k, v := range want {
		if r.header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	if m := r.header.Values("X-Multi"); len(m) != 2 {
		t.Errorf("X-Multi = %v, want both values", m)
	}
	if r.method != "PUT" {
		t.Errorf("method = %s, want PUT", r.method)
	}
	wantBody, _ := Render(d, sampleEvent())
	if string(r.body) != string(wantBody) {
		t.Errorf("body = %s, want %s", r.body, wantBody)
	}
	if !verifyStandardWebhooks(testSecret, r.header, r.body) {
		t.Errorf("signature %q does not verify", r.header.Get("webhook-signature"))
	}
}

func TestHTTPSenderClassifiesAnswers(t *testing.T) {
	for _, tc := range []struct {
		code       int
		retryAfter string
		wantErr    bool
		wantRetry  bool
		wantAfter  time.Duration
	}{
		{200, "", false, false, 0},
		{201, "", false, false, 0},
		{301, "", true, false, 0},
		{400, "", true, false, 0},
		{404, "", true, false, 0},
		{408, "", true, true, 0},
		{410, "", true, false, 0},
		{425, "", true, true, 0},
		{429, "30", true, true, 30 * time.Second},
		{500, "", true, true, 0},
		{503, "Sun, 22 Nov 2026 10:02:00 GMT", true, true, 2 * time.Minute},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.code == 301 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.code)
			}))
			defer srv.Close()
			s := &HTTPSender{Now: newTestClock().Now}
			res, err := s.Send(context.Background(), &Destination{Name: "x", URL: srv.URL, AllowPrivate: true}, sampleEvent())
			if (err != nil) != tc.wantErr || res.Retry != tc.wantRetry || res.Code != tc.code || res.RetryAfter != tc.wantAfter {
				t.Fatalf("Send = %+v, %v; want code %d retry %v after %s err %v", res, err, tc.code, tc.wantRetry, tc.wantAfter, tc.wantErr)
			}
		})
	}
}

func TestHTTPSenderNetworkErrorRetriesWithoutURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/hook?token=secret-token"
	srv.Close()
	s := &HTTPSender{}
	res, err := s.Send(context.Background(), &Destination{Name: "x", URL: u, AllowPrivate: true}, sampleEvent())
	if err == nil || !res.Retry {
		t.Fatalf("Send = %+v, %v; want a retryable error", res, err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("error repeats the URL: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"99999999", MaxRetryAfter},
		{"Sun, 22 Nov 2026 10:05:00 GMT", 5 * time.Minute},
		{"Sun, 22 Nov 2026 09:05:00 GMT", 0},
		{"soon", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseRetryAfter(tc.in, now); got != tc.want {
				t.Fatalf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestSSRFGuard(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	resolver := mapResolver{
		"sink.test":     {"127.0.0.1"},
		"intranet.test": {"10.0.0.1"},
		"metadata.test": {"169.254.169.254"},
		"ec2v6.test":    {"fd00:ec2::254"},
		"mapped.test":   {"::ffff:127.0.0.1"},
		"cgnat.test":    {"100.64.0.1"},
		"ula.test":      {"fd12::1"},
		"mapped10.test": {"::ffff:10.0.0.1"},
		"compat.test":   {"::7f00:1"},                             // IPv4-compatible ::127.0.0.1
		"siit.test":     {"::ffff:0:a00:1"},                       // IPv4-translated 10.0.0.1
		"nat64.test":    {"64:ff9b::a9fe:a9fe"},                   // NAT64 of 169.254.169.254
		"nat64l.test":   {"64:ff9b:1::808:808"},                   // local-use NAT64
		"6to4.test":     {"2002:7f00:1::1"},                       // 6to4 relay of 127.0.0.1
		"teredo.test":   {"2001:0:4136:e378:8000:63bf:f5ff:fffe"}, // Teredo, client 10.0.0.1
	}
	for _, tc := range []struct {
		name         string
		url          string
		allowPrivate bool
		global       bool
		wantBlocked  bool
	}{
		{"loopback literal", "http://127.0.0.1:" + port, false, false, true},
		{"ipv6 loopback", "http://[::1]:" + port, false, false, true},
		{"private literal", "http://10.0.0.1:" + port, false, false, true},
		{"metadata literal", "http://169.254.169.254/latest/meta-data", false, false, true},
		{"unspecified", "http://0.0.0.0:" + port, false, false, true},
		{"name to loopback", "http://sink.test:" + port, false, false, true},
		{"name to private", "http://intranet.test:" + port, false, false, true},
		{"name to metadata", "http://metadata.test/", false, false, true},
		{"name to ec2 v6 metadata", "http://ec2v6.test/", false, false, true},
		{"name to mapped loopback", "http://mapped.test:" + port, false, false, true},
		{"name to cgnat", "http://cgnat.test:" + port, false, false, true},
		{"ula literal", "http://[fd12::1]:" + port, false, false, true},
		{"name to ula", "http://ula.test:" + port, false, false, true},
		{"mapped private literal", "http://[::ffff:10.0.0.1]:" + port, false, false, true},
		{"name to mapped private", "http://mapped10.test:" + port, false, false, true},
		{"name to ipv4-compatible", "http://compat.test:" + port, false, false, true},
		{"name to ipv4-translated", "http://siit.test:" + port, false, false, true},
		{"name to nat64 metadata", "http://nat64.test/", false, false, true},
		{"name to local-use nat64", "http://nat64l.test:" + port, false, false, true},
		{"name to 6to4", "http://6to4.test:" + port, false, false, true},
		{"name to teredo", "http://teredo.test:" + port, false, false, true},
		{"ipv4-compatible literal", "http://[::a00:1]:" + port, false, false, true},
		{"allowed destination", "http://sink.test:" + port, true, false, false},
		{"allowed gateway-wide", "http://sink.test:" + port, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			s := &HTTPSender{Resolver: resolver, AllowPrivate: tc.global}
			d := &Destination{Name: "sub", URL: tc.url, AllowPrivate: tc.allowPrivate, Delivery: policy.Delivery{Timeout: 5 * time.Second}}
			res, err := s.Send(context.Background(), d, sampleEvent())
			if tc.wantBlocked {
				if !errors.Is(err, ErrBlockedAddress) || res.Retry {
					t.Fatalf("Send = %+v, %v; want a final ErrBlockedAddress", res, err)
				}
				if hits.Load() != before {
					t.Fatal("the sink was reached")
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if hits.Load() != before+1 {
				t.Fatal("the sink was not reached")
			}
		})
	}
}

func TestBlockedAddresses(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"::", true},
		{"::1", true}, {"fe80::1", true}, {"fd00:ec2::254", true}, {"64:ff9b::a00:1", true},
		{"fd12::1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:127.0.0.1", true},
		{"::808:808", true}, {"::ffff:0:808:808", true}, {"::ffff:0:a00:1", true}, {"64:ff9b:1::808:808", true},
		{"2002:808:808::1", true}, {"2002:a00:1::1", true}, {"2001:0:4136:e378:8000:63bf:f5ff:fffe", true},
		{"64:ff9b::7f00:1", true},
		{"8.8.8.8", false}, {"2606:4700:4700::1111", false}, {"172.32.0.1", false}, {"64:ff9b::808:808", false},
		{"2001:4860:4860::8888", false}, {"2001:1::1", false},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			if got := blocked(mustAddr(t, tc.ip)); got != tc.want {
				t.Fatalf("blocked(%s) = %v, want %v", tc.ip, got, tc.want)
			}
		})
	}
}

// A secret written without base64 padding, which config accepts, signs:
// Validate passes, and a receiver decoding the same key verifies it.
func TestUnpaddedSecretSigns(t *testing.T) {
	key := []byte("a key of 25 bytes, no pad")
	unpadded := "whsec_" + base64.RawStdEncoding.EncodeToString(key)
	if strings.HasSuffix(unpadded, "=") || len(key)%3 == 0 {
		t.Fatal("the test secret must need padding")
	}
	if err := (Destination{Name: "crm", URL: "https://example.com", Secrets: []string{unpadded}}).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var got http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r.Header.Clone(), must(io.ReadAll(r.Body))
	}))
	defer srv.Close()
	d := &Destination{Name: "crm", URL: srv.URL, AllowPrivate: true, Secrets: []string{unpadded}}
	if _, err := (&HTTPSender{}).Send(context.Background(), d, sampleEvent()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	padded := "whsec_" + base64.StdEncoding.EncodeToString(key)
	if !verifyStandardWebhooks(padded, got, body) {
		t.Fatal("signature made with the unpadded secret does not verify")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A destination that does not answer within its timeout fails the attempt
// as retryable, and says it timed out.
func TestHTTPSenderTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	d := &Destination{Name: "slow", URL: srv.URL, AllowPrivate: true, Delivery: policy.Delivery{Timeout: 100 * time.Millisecond}}
	res, err := (&HTTPSender{}).Send(context.Background(), d, sampleEvent())
	if err == nil || !res.Retry || !strings.Contains(err.Error(), "timeout after 100ms") {
		t.Fatalf("Send = %+v, %v; want a retryable timeout", res, err)
	}
}

// Deliveries reuse keep-alive connections: many sequential sends to one
// destination open no more connections than its concurrency.
func TestHTTPSenderReusesConnections(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s := &HTTPSender{}
	d := &Destination{Name: "crm", URL: srv.URL, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 1}}
	for range 20 {
		if _, err := s.Send(context.Background(), d, sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	if got := opened.Load(); got != 1 {
		t.Fatalf("20 deliveries opened %d connections, want 1", got)
	}
}

// The sender builds a destination's URL, fixed headers and signer once, so
// a reload that changes any of them under the same name must be seen on the
// next attempt, and the per-attempt headers win over custom ones of the
// same name, as Header.Set made them.
func TestHTTPSenderFollowsDestinationChanges(t *testing.T) {
	got := make(chan http.Header, 1)
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Clone()
			h.Set("X-Server", name)
			got <- h
		})
	}
	one, two := httptest.NewServer(handler("one")), httptest.NewServer(handler("two"))
	defer one.Close()
	defer two.Close()
	otherSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another test secret 987654"))
	s := &HTTPSender{Version: "1"}
	d := Destination{Name: "crm", URL: one.URL, AllowPrivate: true, Headers: []Header{{"X-Api-Key", "k1"}}}
	steps := []struct {
		name   string
		change func(d *Destination)
		want   map[string]string
		secret string
	}{
		{"first", func(*Destination) {}, map[string]string{"X-Server": "one", "X-Api-Key": "k1"}, ""},
		{"url", func(d *Destination) { d.URL = two.URL }, map[string]string{"X-Server": "two"}, ""},
		{"header value", func(d *Destination) { d.Headers = []Header{{"X-Api-Key", "k2"}} }, map[string]string{"X-Api-Key": "k2"}, ""},
		{"content type", func(d *Destination) { d.ContentType = ContentText }, map[string]string{"Content-Type": ContentText}, ""},
		{"secret", func(d *Destination) { d.Secrets = []string{testSecret} }, map[string]string{}, testSecret},
		{"rotated secret", func(d *Destination) { d.Secrets = []string{otherSecret} }, map[string]string{}, otherSecret},
		{"custom headers lose to the sender's", func(d *Destination) {
			d.Headers = []Header{{"webhook-id", "forged"}, {"Content-Type", "x/y"}, {"User-Agent", "me"}}
		}, map[string]string{"Webhook-Id": "evt_1", "Content-Type": ContentText, "User-Agent": "leadgate/1"}, otherSecret},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(&d)
			dc := d // a reload hands the sender a new Destination value
			if _, err := s.Send(context.Background(), &dc, sampleEvent()); err != nil {
				t.Fatal(err)
			}
			h := <-got
			for k, v := range st.want {
				if h.Get(k) != v || len(h.Values(k)) != 1 {
					t.Errorf("%s = %q, want only %q", k, h.Values(k), v)
				}
			}
			body, _ := Render(&dc, sampleEvent())
			if st.secret != "" && !verifyStandardWebhooks(st.secret, h, body) {
				t.Errorf("signature %q does not verify under the current secret", h.Get("webhook-signature"))
			}
			if st.secret == "" && h.Get("webhook-signature") != "" {
				t.Errorf("unsigned destination sent webhook-signature %q", h.Get("webhook-signature"))
			}
		})
	}
}

// withTimeout keeps a context that already ends in time and otherwise
// derives one ending after the timeout, as context.WithTimeout would.
func TestWithTimeout(t *testing.T) {
	background := context.Background()
	soon, cancelSoon := context.WithTimeout(background, time.Second)
	defer cancelSoon()
	late, cancelLate := context.WithTimeout(background, time.Hour)
	defer cancelLate()
	for _, tc := range []struct {
		name   string
		parent context.Context
		same   bool
	}{
		{"no deadline", background, false},
		{"earlier deadline", soon, true},
		{"later deadline", late, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			ctx, cancel := withTimeout(tc.parent, time.Minute)
			if (ctx == tc.parent) != tc.same {
				t.Fatalf("kept the parent = %v, want %v", ctx == tc.parent, tc.same)
			}
			end, ok := ctx.Deadline()
			parentEnd, _ := tc.parent.Deadline()
			if !ok || (tc.same && !end.Equal(parentEnd)) ||
				(!tc.same && (end.Before(before.Add(time.Minute)) || end.After(time.Now().Add(time.Minute)))) {
				t.Fatalf("deadline %v (ok %v), want the earlier of the parent's and a minute from now", end, ok)
			}
			cancel()
			if tc.same && tc.parent.Err() != nil {
				t.Fatal("cancel ended the parent")
			}
			if !tc.same && ctx.Err() == nil {
				t.Fatal("cancel left the derived context running")
			}
		})
	}
}

// An attempt whose caller's deadline comes before the destination's
// timeout ends at the caller's deadline and is reported as the timeout, as
// it was when the sender always derived its own context.
func TestHTTPSenderCallerDeadlineIsTheTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	d := &Destination{Name: "slow", URL: srv.URL, AllowPrivate: true, Delivery: policy.Delivery{Timeout: time.Minute}}
	start := time.Now()
	res, err := (&HTTPSender{}).Send(ctx, d, sampleEvent())
	if err == nil || !res.Retry || !strings.Contains(err.Error(), "timeout after 1m0s") || time.Since(start) > 10*time.Second {
		t.Fatalf("Send = %+v, %v after %s; want a retryable timeout at the caller's deadline", res, err, time.Since(start))
	}
}
