package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// Sender makes one delivery attempt. Whether a failure is worth another
// attempt is part of its answer, as in Alertmanager's notifiers.
type Sender interface {
	// Send delivers ev to d once. err is nil only for a 2xx; then and
	// otherwise Result says what the destination answered.
	Send(ctx context.Context, d *Destination, ev *lead.Event) (Result, error)
}

// Result is what one attempt got back.
type Result struct {
	// Code is the HTTP status, 0 when there was no response.
	Code int
	// Retry says a failure may succeed later: network errors, 408, 425,
	// 429 and 5xx.
	Retry bool
	// RetryAfter is the answer's Retry-After, zero when absent.
	RetryAfter time.Duration
}

var _ Sender = (*HTTPSender)(nil)

// HTTPSender sends over HTTP with a keep-alive connection pool per
// destination sized to its concurrency, and the SSRF guard on every connect.
// Its zero value works; set the fields before the first Send.
type HTTPSender struct {
	// Version goes into User-Agent: leadgate/<version>.
	Version string
	// Resolver resolves destination hosts; nil is net.DefaultResolver.
	Resolver Resolver
	// AllowPrivate lifts the SSRF guard for every destination
	// (server.allow_private_destinations).
	AllowPrivate bool
	// Now stamps webhook-timestamp; nil is time.Now.
	Now func() time.Time

	mu      sync.Mutex
	clients map[string]*pooledClient
}

type pooledClient struct {
	allowPrivate bool
	conns        int
	client       *http.Client
	target       *target
}

// client returns d's pooled client, rebuilding it when what shapes the pool
// (the guard, the pool size) changed, and d's target, rebuilt when what it
// was built from changed.
func (s *HTTPSender) client(d *Destination) (*http.Client, *target) {
	allow := s.AllowPrivate || d.AllowPrivate
	conns := d.concurrency()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[d.Name]
	if !ok || c.allowPrivate != allow || c.conns != conns {
		if s.clients == nil {
			s.clients = map[string]*pooledClient{}
		}
		if ok {
			c.client.CloseIdleConnections()
		}
		c = &pooledClient{allowPrivate: allow, conns: conns, client: newClient(s.Resolver, allow, conns)}
		s.clients[d.Name] = c
	}
	if c.target == nil || !c.target.current(d, s.Version) {
		c.target = newTarget(d, s.Version)
	}
	return c.client, c.target
}

// Forget drops the pools of destinations not in keep, closing their idle
// connections.
func (s *HTTPSender) Forget(keep map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, c := range s.clients {
		if !keep[name] {
			c.client.CloseIdleConnections()
			delete(s.clients, name)
		}
	}
}

func newClient(resolver Resolver, allowPrivate bool, conns int) *http.Client {
	tr := &http.Transport{
		// No proxy: a proxy would be the only address the guard sees.
		Proxy:                 nil,
		DialContext:           newDialContext(resolver, allowPrivate),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		// A webhook is answered where it was sent; following a redirect
		// would turn a POST into a GET and could walk past the guard's
		// intent, so a 3xx is an answer like any other non-2xx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *HTTPSender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// StatusError is a non-2xx answer.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return "unexpected status " + strconv.Itoa(e.Code) }

// Send renders, signs and posts ev to d within d's timeout.
func (s *HTTPSender) Send(ctx context.Context, d *Destination, ev *lead.Event) (Result, error) {
	res, _, err := s.send(ctx, d, ev, false)
	return res, err
}

// SendForAnswer is Send that also returns what d answered, when its body
// is at most MaxAnswer bytes and was read whole (nil otherwise).
func (s *HTTPSender) SendForAnswer(ctx context.Context, d *Destination, ev *lead.Event) (Result, *store.Answer, error) {
	return s.send(ctx, d, ev, true)
}

// send posts ev to d; with keep it also reads d's answer for the caller.
func (s *HTTPSender) send(ctx context.Context, d *Destination, ev *lead.Event, keep bool) (Result, *store.Answer, error) {
	body, err := Render(d, ev)
	if err != nil {
		return Result{}, nil, err
	}
	client, t := s.client(d)
	if t.tmpl == nil {
		// The URL may carry a token: say what failed, not the URL.
		return Result{}, nil, errors.New("build request: invalid destination url")
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	if t.signErr != nil {
		return Result{}, nil, fmt.Errorf("sign: %w", t.signErr)
	}
	var sig string
	if t.signer != nil {
		sig = t.signer.sign(ev.ID, ts, body)
	}
	ctx, cancel := withTimeout(ctx, d.timeout())
	defer cancel()
	resp, err := client.Do(t.request(ctx, body, ev.ID, ts, sig))
	if err != nil {
		// url.Error would repeat the URL, which may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("timeout after %s: %w", d.timeout(), err)
		}
		return Result{Retry: !errors.Is(err, ErrBlockedAddress)}, nil, fmt.Errorf("send: %w", err)
	}
	// Drain a little so the connection can be reused; a huge answer is
	// not worth reading. One that is kept is read the same way, one byte
	// further, to tell a body of MaxAnswer bytes from a longer one.
	var ans *store.Answer
	if keep {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
		if rerr == nil && len(b) <= MaxAnswer {
			ans = &store.Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	res := Result{Code: resp.StatusCode}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		res.RetryAfter = parseRetryAfter(ra, s.now())
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res, ans, nil
	}
	res.Retry = retryable(resp.StatusCode)
	return res, ans, &StatusError{Code: resp.StatusCode}
}

// withTimeout is context.WithTimeout without the new context when ctx
// already ends no later: the dispatcher's attempts carry the lease's
// deadline, which is the destination's timeout counted from the lease, so
// the derived context would only be a cancelCtx to register, propagate and
// cancel again, with the same deadline and the same Err.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if end, ok := ctx.Deadline(); ok && !end.After(time.Now().Add(timeout)) {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

func retryable(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return code >= 500 && code <= 599
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything else, or a
// time in the past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}
