package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// unknownSource labels metrics of requests to a source that has no mapping,
// so a scan of random paths cannot grow the label set.
const unknownSource = "unknown"

// errTooLarge stands for the parse of a body that was too large to parse.
var errTooLarge = errors.New("body too large")

// ingestTimeout bounds one request's wait for the limiter and the store;
// fiber.Ctx is never cancelled, so the handler brings its own context.
const ingestTimeout = 10 * time.Second

// deadlineGrain is how long requests share one context: each gets a
// deadline between ingestTimeout-deadlineGrain and ingestTimeout after it
// began, for one context.WithDeadline (a timer, a done channel) per grain
// instead of per request.
const deadlineGrain = 10 * time.Millisecond

// deadlines hands out the shared contexts. A context is never cancelled
// early: its timer ends it at its deadline, when nothing uses it anymore.
type deadlines struct {
	cur atomic.Pointer[sharedDeadline]
}

type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc // called by the context's own timer
	born   time.Time
}

// get returns a context that ends at most ingestTimeout from now.
func (d *deadlines) get() context.Context {
	now := time.Now()
	if c := d.cur.Load(); c != nil && now.Sub(c.born) < deadlineGrain {
		return c.ctx
	}
	c := &sharedDeadline{born: now}
	c.ctx, c.cancel = context.WithDeadline(context.Background(), now.Add(ingestTimeout))
	d.cur.Store(c)
	return c.ctx
}

// inbound wraps accept with the request metrics, which need the final
// status whether accept answered or returned an error.
func (s *Server) inbound(c *fiber.Ctx) error {
	start := s.opts.Now()
	// Fiber's params alias its request buffer, reused for the next
	// request; the source outlives this one (in events and metric labels).
	source := strings.Clone(c.Params("source", "website"))
	err := s.accept(c, source)
	code := fiber.StatusOK
	var he *HTTPError
	switch {
	case errors.As(err, &he):
		code = he.Code
	case err != nil:
		code = fiber.StatusInternalServerError
	}
	if m := s.opts.Metrics; m != nil {
		took := s.opts.Now().Sub(start).Seconds()
		switch code {
		case fiber.StatusOK:
			sm := s.sourceMetrics(source)
			sm.ok.Inc()
			sm.duration.Observe(took)
		default:
			label := source
			if code == fiber.StatusNotFound {
				label = unknownSource
			}
			m.InboundRequests.WithLabelValues(label, strconv.Itoa(code)).Inc()
			m.InboundDuration.WithLabelValues(label).Observe(took)
		}
	}
	return err
}

// sourceMetrics are the series one source's accepted requests count in,
// looked up once instead of by WithLabelValues, which hashes the label
// strings on every call.
type sourceMetrics struct {
	ok       prometheus.Counter
	duration prometheus.Observer
	events   map[string]prometheus.Counter // by event name
}

// sourceMetrics returns source's series. The cache is copied on write and
// emptied on Swap, so it only holds sources that answered a 200 since the
// last reload: mapping names, a bounded set.
func (s *Server) sourceMetrics(source string) *sourceMetrics {
	if c := s.metricsCache.Load(); c != nil {
		if sm, ok := (*c)[source]; ok {
			return sm
		}
	}
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	old := s.metricsCache.Load()
	if old != nil {
		if sm, ok := (*old)[source]; ok {
			return sm
		}
	}
	m := s.opts.Metrics
	sm := &sourceMetrics{
		ok:       m.InboundRequests.WithLabelValues(source, strconv.Itoa(fiber.StatusOK)),
		duration: m.InboundDuration.WithLabelValues(source),
		events:   make(map[string]prometheus.Counter, len(lead.EventNames)),
	}
	for _, ev := range lead.EventNames {
		sm.events[ev] = m.Events.WithLabelValues(source, ev)
	}
	next := make(map[string]*sourceMetrics, 1)
	if old != nil {
		next = maps.Clone(*old)
	}
	next[source] = sm
	s.metricsCache.Store(&next)
	return sm
}

// accept is the inbound path: find the mapping, parse, limit, authenticate,
// map, store, answer. Nothing is stored for a rejected request.
func (s *Server) accept(c *fiber.Ctx, source string) error {
	rt := s.Runtime()
	ctx := s.deadlines.get()
	m, ok := rt.Mappings.Get(source)
	if !ok {
		// Unknown sources share one limit per client address, so a scan of
		// paths is throttled and the answer carries the rate-limit headers
		// like every other answer of this route.
		if err := s.limit(ctx, c, rt, "in:"+unknownSource+":"+c.IP()); err != nil {
			return err
		}
		return &HTTPError{Code: fiber.StatusNotFound, Msg: "unknown source", Details: []any{source}}
	}
	raw := bytes.Clone(c.Body()) // fasthttp reuses the buffer after the handler
	tooLarge := len(raw) > rt.BodyLimit
	var body []byte
	parseErr := errTooLarge
	if !tooLarge {
		body, parseErr = mapping.ParseBody(c.Get(fiber.HeaderContentType), raw)
	}
	in := mapping.Input{
		Body:     body,
		Raw:      raw,
		Query:    func(k string) string { return strings.Clone(c.Query(k)) },
		Header:   func(k string) string { return strings.Clone(c.Get(k)) },
		RemoteIP: c.IP(),
		Now:      s.opts.Now(),
		NoTrace:  true, // the trace is for `gateway map`; skipping it halves allocations
	}

	if err := s.limit(ctx, c, rt, rateKey(m, in, parseErr == nil)); err != nil {
		return err
	}
	if tooLarge {
		s.fail(source, metrics.ReasonTooLarge)
		return &HTTPError{Code: fiber.StatusRequestEntityTooLarge, Msg: "body too large",
			Details: []any{"limit is " + strconv.Itoa(rt.BodyLimit) + " bytes"}}
	}
	if parseErr != nil {
		if errors.Is(parseErr, mapping.ErrUnsupportedMediaType) {
			s.fail(source, metrics.ReasonUnsupportedType)
			return &HTTPError{Code: fiber.StatusUnsupportedMediaType, Msg: "unsupported content type",
				Details: []any{"send application/json, application/x-www-form-urlencoded, multipart/form-data or text/plain holding JSON"}, Err: parseErr}
		}
		s.fail(source, metrics.ReasonMalformed)
		return &HTTPError{Code: fiber.StatusBadRequest, Msg: "malformed body", Details: []any{parseErr.Error()}, Err: parseErr}
	}
	if err := m.Authenticate(in); err != nil {
		s.fail(source, metrics.ReasonUnauthorized)
		return &HTTPError{Code: fiber.StatusUnauthorized, Msg: "source authentication failed", Err: err}
	}
	res, err := m.Map(in)
	if err != nil {
		s.fail(source, metrics.ReasonInvalid)
		return invalid(err)
	}

	out, err := s.opts.Store.Ingest(ctx, store.IngestRequest{
		Source:     source,
		DedupeKey:  dedupeKey(source, c.Request().URI().QueryString(), raw),
		DedupeTTL:  s.opts.DedupeTTL,
		Identity:   res.Identity,
		Lead:       res.Lead,
		Emits:      m.Emits(),
		ReceivedAt: in.Now,
		Route:      s.route(rt),
		RequestID:  requestID(c),
	})
	if err != nil {
		return &HTTPError{Code: fiber.StatusServiceUnavailable, Msg: "store unavailable, retry later", RetryAfter: 1, Err: err}
	}
	s.stored(source, out)
	if s.log.Enabled(ctx, slog.LevelDebug) { // its arguments alone allocate
		s.log.Debug("accepted", "request_id", requestID(c), "source", source, "lead_id", out.LeadID,
			"events", len(out.Events), "duplicate", out.Duplicate)
	}
	return sendAccepted(c, out.LeadID)
}

// sendAccepted answers the contract's success body (the Ledsak answer),
// byte for byte what c.JSON of a struct with those two fields wrote,
// without encoding/json's reflection.
func sendAccepted(c *fiber.Ctx, leadID string) error {
	const prefix = `{"message":"Successfully created","lead_id":`
	b := make([]byte, 0, len(prefix)+len(leadID)+8)
	b = append(b, prefix...)
	b = lead.AppendJSONString(b, leadID, true)
	c.Response().SetBodyRaw(append(b, '}'))
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return nil
}

// rateKey is the limiter key of a request: per source and the mapping's
// client key. A key that lives in the body falls back to the client's IP
// when the body did not parse.
func rateKey(m *mapping.Mapping, in mapping.Input, parsed bool) string {
	client := "ip:" + in.RemoteIP
	if parsed {
		if k := m.RateKey(in); k != "" {
			client = k
		}
	}
	return "in:" + m.Name() + ":" + client
}

// limit applies the inbound limit under key and sets the rate-limit headers
// on every response of the route.
func (s *Server) limit(ctx context.Context, c *fiber.Ctx, rt *Runtime, key string) error {
	d, err := s.opts.Limiter.Allow(ctx, key, rt.Inbound)
	if err != nil {
		return &HTTPError{Code: fiber.StatusServiceUnavailable, Msg: "rate limiter unavailable, retry later", RetryAfter: 1, Err: err}
	}
	policy, state := ratelimit.Headers(d, "inbound")
	c.Set("RateLimit-Policy", policy)
	c.Set("RateLimit", state)
	if d.Allowed {
		return nil
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.RateLimited.WithLabelValues("inbound").Inc()
	}
	wait := ratelimit.RetryAfterSeconds(d)
	return &HTTPError{Code: fiber.StatusTooManyRequests, Msg: "rate limited",
		Details:    []any{"at most " + strconv.Itoa(d.Limit.Requests) + " requests per " + d.Limit.Per.String() + " per client; retry after " + strconv.Itoa(wait) + "s"},
		RetryAfter: wait}
}

// invalid turns a mapping error into the 422 that names each field.
func invalid(err error) error {
	var fe *mapping.FieldErrors
	if !errors.As(err, &fe) {
		return &HTTPError{Code: fiber.StatusUnprocessableEntity, Msg: "payload does not fit the mapping", Details: []any{err.Error()}, Err: err}
	}
	details := make([]any, 0, len(fe.Errors))
	for _, p := range fe.Errors {
		details = append(details, p)
	}
	return &HTTPError{Code: fiber.StatusUnprocessableEntity, Msg: "required field missing or of the wrong type", Details: details}
}

func (s *Server) fail(source, reason string) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.NormalizeFailures.WithLabelValues(source, reason).Inc()
	}
}

func (s *Server) stored(source string, out store.IngestResult) {
	if out.Duplicate {
		return
	}
	if s.opts.Metrics != nil {
		sm := s.sourceMetrics(source)
		for i := range out.Events {
			name := out.Events[i].Event
			if c, ok := sm.events[name]; ok {
				c.Inc()
			} else {
				s.opts.Metrics.Events.WithLabelValues(source, name).Inc()
			}
		}
	}
	if s.opts.Kick != nil && len(out.Events) > 0 {
		s.opts.Kick()
	}
}

// route is the ingest's router: the dispatcher's when there is one (it
// also skips destinations a 410 disabled), else the snapshot's.
func (s *Server) route(rt *Runtime) func(ev *lead.Event) []string {
	if s.opts.Route != nil {
		return s.opts.Route
	}
	return func(ev *lead.Event) []string { return deliver.Route(rt.Destinations, ev) }
}

// dedupeKey identifies a payload: the same body and query string to the
// same source is the same payload.
//
// It hashes one buffer with sha256.Sum256, which stays on the stack, where
// a sha256.New digest, its Sum and hex.EncodeToString each allocated.
func dedupeKey(source string, query, body []byte) string {
	var stack [2048]byte
	buf := append(stack[:0], source...)
	buf = append(buf, 0)
	buf = append(buf, query...)
	buf = append(buf, 0)
	buf = append(buf, body...)
	sum := sha256.Sum256(buf)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}
