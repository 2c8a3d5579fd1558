package server

import (
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
	"leadgate/gateway/httperr"
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
// status whether accept answered, returned an error or panicked.
func (s *Server) inbound(c *fiber.Ctx) error {
	start := s.opts.Now()
	// Fiber's params alias its request buffer, reused for the next
	// request; the source outlives this one (in events and metric labels).
	source := strings.Clone(c.Params("source", "website"))
	rt := s.Runtime()
	m, known := rt.Mappings.Get(source)
	err := s.acceptSafely(c, rt, m, source)
	label := source
	if !known {
		// The path is the caller's: it never becomes a label, whatever the
		// answer (404, or 429 and 503 before it).
		label = unknownSource
	}
	code := statusOf(err)
	if err == nil {
		// A relayed answer (a mapping's respond) has the destination's.
		code = c.Response().StatusCode()
	}
	s.record(label, code, start)
	return err
}

// statusOf is the status the error handler answers err with.
func statusOf(err error) int {
	var he *httperr.Error
	var fe *fiber.Error
	switch {
	case err == nil:
		return fiber.StatusOK
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &fe):
		return fe.Code
	}
	return fiber.StatusInternalServerError
}

// record counts one inbound answer under label, a mapping's name or
// unknownSource.
func (s *Server) record(label string, code int, start time.Time) {
	m := s.opts.Metrics
	if m == nil {
		return
	}
	took := s.opts.Now().Sub(start).Seconds()
	if code == fiber.StatusOK {
		sm := s.sourceMetrics(label)
		sm.ok.Inc()
		sm.duration.Observe(took)
		return
	}
	m.InboundRequests.WithLabelValues(label, metrics.Code(code)).Inc()
	m.InboundDuration.WithLabelValues(label).Observe(took)
}

// acceptSafely runs accept and turns a panic into the contract's 500, so
// the request is still counted and answered with its rate-limit headers.
func (s *Server) acceptSafely(c *fiber.Ctx, rt *Runtime, m *mapping.Mapping, source string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = internalError(c, panicked(r))
		}
	}()
	return s.accept(c, rt, m, source)
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

// accept is the inbound path: limit, read, authenticate, parse, map,
// store, answer. m is source's mapping, nil for an unknown source. Nothing
// is stored for a rejected request.
//
// The limit's client key (contract §3) is the client's address unless the
// source authenticates, the request passed, and the mapping keys on
// something the request names: a caller can neither dodge the limit by
// naming a new key each time nor spend another client's quota. When the
// key is the address whatever the body says (an open source, or
// rate_limit_key: ip), the limit is checked before the body is read, so a
// flood from one address costs no parse.
func (s *Server) accept(c *fiber.Ctx, rt *Runtime, m *mapping.Mapping, source string) error {
	ctx := s.deadlines.get()
	addr := limitAddr(s.clientIP(c))
	if m == nil {
		// Unknown sources share one limit per client address, so a scan of
		// paths is throttled and the answer carries the rate-limit headers
		// like every other answer of this route.
		if err := s.limit(ctx, c, rt, "in:"+unknownSource+":ip:"+addr); err != nil {
			return err
		}
		return unknownSourceError(source)
	}
	addrKey := "in:" + source + ":ip:" + addr

	// key is the request's limit key; limited says it was decided; check
	// is set when the store decides it instead, in its write (Redis), in
	// the one round trip that stores the events.
	var (
		key     = addrKey
		limited bool
		check   *ratelimit.Check
	)
	early := !m.HasAuth() || m.KeysByAddress()
	if early {
		var err error
		if limited, check, err = s.limitBefore(ctx, c, rt, key); err != nil {
			return err
		}
	}

	raw, tooLarge, readErr := requestBody(c, rt.BodyLimit)
	in := mapping.Input{
		Raw:      raw,
		Query:    func(k string) string { return strings.Clone(c.Query(k)) },
		Header:   func(k string) string { return strings.Clone(c.Get(k)) },
		RemoteIP: addr,
		Now:      s.opts.Now(),
		NoTrace:  true, // the trace is for `gateway map`; skipping it halves allocations
	}
	// Authentication reads the raw body only: a request that fails it is
	// limited by its address and answered before anything parses its body.
	parseErr, authErr := readErr, error(nil)
	if tooLarge {
		parseErr = errTooLarge
	}
	if parseErr == nil {
		authErr = m.Authenticate(in)
	}
	if parseErr == nil && authErr == nil {
		in.Body, parseErr = mapping.ParseBody(c.Get(fiber.HeaderContentType), raw)
	}
	if !early {
		if parseErr == nil && authErr == nil {
			key = rateKey(m, in)
		}
		var err error
		if limited, check, err = s.limitBefore(ctx, c, rt, key); err != nil {
			return err
		}
	}

	res, reason, err := admit(m, in, rt, tooLarge, parseErr, authErr)
	if err != nil {
		// Rejected before the store: counted here, so every request counts.
		if !limited {
			if lerr := s.limit(ctx, c, rt, key); lerr != nil {
				return lerr
			}
		}
		s.fail(source, reason)
		return err
	}

	dedupe := dedupeKey(source, c.Request().URI().QueryString(), raw)
	resp := m.Respond()
	hold, why := s.holdFor(resp)
	out, err := s.opts.Store.Ingest(ctx, store.IngestRequest{
		Source:     source,
		DedupeKey:  dedupe,
		DedupeTTL:  s.opts.DedupeTTL,
		Identity:   res.Identity,
		Lead:       res.Lead,
		Emits:      m.Emits(),
		ReceivedAt: in.Now,
		Route:      s.route(rt),
		Ordered:    s.ordered(rt),
		RequestID:  requestID(c),
		Limit:      check,
		Hold:       hold,
	})
	if err != nil {
		if check != nil {
			s.limitUnknown(c, rt)
		}
		// Only an outage is worth a retry; anything else would fail the
		// same way on every retry, so the sender is told it is not its
		// to fix (500) rather than asked to come back forever (503).
		if errors.Is(err, store.ErrUnavailable) {
			return &httperr.Error{Code: fiber.StatusServiceUnavailable, Msg: "store unavailable, retry later", RetryAfter: 1, Err: err}
		}
		return internalError(c, err)
	}
	if out.Limit != nil {
		if err := s.decided(c, key, *out.Limit); err != nil {
			return err
		}
	}
	s.stored(source, out, res.FieldsDropped)
	if s.log.Enabled(ctx, slog.LevelDebug) { // its arguments alone allocate
		s.log.Debug("accepted", "request_id", requestID(c), "source", source, "lead_id", out.LeadID,
			"events", len(out.Events), "duplicate", out.Duplicate)
	}
	if resp != nil {
		return s.respond(c, source, resp, hold, why, dedupe, out)
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

// rateKey is the limiter key of a request that authenticated and parsed:
// per source and the mapping's client key, or the client's address when the
// mapping keys on it or the request names no key.
func rateKey(m *mapping.Mapping, in mapping.Input) string {
	return "in:" + m.Name() + ":" + m.RateKey(in)
}

// limitBefore applies the limit of key ahead of the rest of the request:
// the limiter decides now (limited), or, when the store decides in its
// write, a refusal still remembered for key is answered now and the check
// is handed over for the store.
func (s *Server) limitBefore(ctx context.Context, c *fiber.Ctx, rt *Runtime, key string) (limited bool, check *ratelimit.Check, err error) {
	if check = s.storeCheck(rt, key); check == nil {
		return true, nil, s.limit(ctx, c, rt, key)
	}
	if d, ok := s.refusals.refused(key, rt.Inbound); ok {
		return true, nil, s.decided(c, key, d)
	}
	return false, check, nil
}

// limit applies the inbound limit under key and sets the rate-limit headers
// on every response of the route.
func (s *Server) limit(ctx context.Context, c *fiber.Ctx, rt *Runtime, key string) error {
	d, err := s.opts.Limiter.Allow(ctx, key, rt.Inbound)
	if err != nil {
		s.limitUnknown(c, rt)
		return &httperr.Error{Code: fiber.StatusServiceUnavailable, Msg: "rate limiter unavailable, retry later", RetryAfter: 1, Err: err}
	}
	return s.decided(c, key, d)
}

// limitUnknown sets the route's rate-limit headers when the limiter could
// not be asked: the policy is known, and no room is the honest state.
func (s *Server) limitUnknown(c *fiber.Ctx, rt *Runtime) {
	policy, state := ratelimit.Headers(ratelimit.Decision{Limit: rt.Inbound, Reset: time.Second}, "inbound")
	c.Set("RateLimit-Policy", policy)
	c.Set("RateLimit", state)
}

// decided sets the rate-limit headers of the decision on key and answers
// the 429 of a refused request, which it remembers (refusals).
func (s *Server) decided(c *fiber.Ctx, key string, d ratelimit.Decision) error {
	policy, state := ratelimit.Headers(d, "inbound")
	c.Set("RateLimit-Policy", policy)
	c.Set("RateLimit", state)
	if d.Allowed {
		return nil
	}
	if s.checker != nil {
		s.refusals.note(key, d)
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.RateLimited.WithLabelValues("inbound").Inc()
	}
	wait := ratelimit.RetryAfterSeconds(d)
	return &httperr.Error{Code: fiber.StatusTooManyRequests, Msg: "rate limited",
		Details:    []any{"at most " + strconv.Itoa(d.Limit.Requests) + " requests per " + d.Limit.Per.String() + " per client; retry after " + strconv.Itoa(wait) + "s"},
		RetryAfter: wait}
}

// unknownSourceError is the 404 of a path that names no mapping.
func unknownSourceError(source string) error {
	return &httperr.Error{Code: fiber.StatusNotFound, Msg: "unknown source", Details: []any{source}}
}

// tooLargeError is the 413 of a body over server.body_limit.
func tooLargeError(limit int) error {
	return &httperr.Error{Code: fiber.StatusRequestEntityTooLarge, Msg: "body too large",
		Details: []any{"limit is " + strconv.Itoa(limit) + " bytes"}}
}

// oversized answers an inbound request whose body was over the listener's
// own cap, so fasthttp refused it before any handler ran: it gets what a
// handler's 413 gets (limit, headers, metrics), keyed by the client's
// address since there is no body to read a key from.
func (s *Server) oversized(c *fiber.Ctx, source string) error {
	start := s.opts.Now()
	rt := s.Runtime()
	ctx := s.deadlines.get()
	_, known := rt.Mappings.Get(source)
	label := source
	if !known {
		label = unknownSource
	}
	err := s.limit(ctx, c, rt, "in:"+label+":ip:"+limitAddr(s.clientIP(c)))
	if err == nil {
		if known {
			s.fail(source, metrics.ReasonTooLarge)
			err = tooLargeError(rt.BodyLimit)
		} else {
			err = unknownSourceError(source)
		}
	}
	s.record(label, statusOf(err), start)
	return err
}

// inboundSource names the source of an inbound route's path, for requests
// that never reached the router.
func inboundSource(c *fiber.Ctx) (string, bool) {
	if c.Method() != fiber.MethodPost {
		return "", false
	}
	path := c.Path()
	if path == "/api/webhook/website/webhook" {
		return "website", true
	}
	source, ok := strings.CutPrefix(path, "/hooks/")
	if !ok || source == "" || strings.Contains(source, "/") {
		return "", false
	}
	return strings.Clone(source), true
}

// invalid turns a mapping error into the 422 that names each field.
func invalid(err error) error {
	var fe *mapping.FieldErrors
	if !errors.As(err, &fe) {
		return &httperr.Error{Code: fiber.StatusUnprocessableEntity, Msg: "payload does not fit the mapping", Details: []any{err.Error()}, Err: err}
	}
	details := make([]any, 0, len(fe.Errors))
	for _, p := range fe.Errors {
		details = append(details, p)
	}
	return &httperr.Error{Code: fiber.StatusUnprocessableEntity, Msg: "required field missing or of the wrong type", Details: details}
}

func (s *Server) fail(source, reason string) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.NormalizeFailures.WithLabelValues(source, reason).Inc()
	}
}

// stored counts what an ingest stored: its events, and the keys of lead
// fields left out, by the mapping's rest (restDropped) or the lead's bounds.
func (s *Server) stored(source string, out store.IngestResult, restDropped int) {
	if out.Duplicate {
		return
	}
	if n := restDropped + out.FieldsDropped; n > 0 && s.opts.Metrics != nil {
		s.opts.Metrics.FieldsDropped.WithLabelValues(source).Add(float64(n))
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

// ordered says which destinations route names want a lead's events in
// order, from the same view.
func (s *Server) ordered(rt *Runtime) func(dest string) bool {
	if s.opts.Route != nil {
		return s.opts.Ordered
	}
	return func(dest string) bool { return deliver.Ordered(rt.Destinations, dest) }
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

// admit checks a request's body, authentication (authErr, m.Authenticate's
// answer for a body that parsed) and mapping, and answers the mapped lead,
// or the HTTP error that rejects the request with the normalize-failure
// reason to count once the request was not rate limited.
func admit(m *mapping.Mapping, in mapping.Input, rt *Runtime, tooLarge bool, parseErr, authErr error) (res mapping.Result, reason string, err error) {
	if tooLarge {
		return res, metrics.ReasonTooLarge, tooLargeError(rt.BodyLimit)
	}
	if parseErr != nil {
		if errors.Is(parseErr, errUnsupportedEncoding) {
			return res, metrics.ReasonUnsupportedType, &httperr.Error{Code: fiber.StatusUnsupportedMediaType, Msg: "unsupported content encoding",
				Details: []any{parseErr.Error()}, Err: parseErr}
		}
		if errors.Is(parseErr, mapping.ErrUnsupportedMediaType) {
			return res, metrics.ReasonUnsupportedType, &httperr.Error{Code: fiber.StatusUnsupportedMediaType, Msg: "unsupported content type",
				Details: []any{"send application/json, application/x-www-form-urlencoded, multipart/form-data or text/plain holding JSON"}, Err: parseErr}
		}
		return res, metrics.ReasonMalformed, &httperr.Error{Code: fiber.StatusBadRequest, Msg: "malformed body", Details: []any{parseErr.Error()}, Err: parseErr}
	}
	if authErr != nil {
		return res, metrics.ReasonUnauthorized, &httperr.Error{Code: fiber.StatusUnauthorized, Msg: "source authentication failed", Err: authErr}
	}
	if res, err = m.Map(in); err != nil {
		return res, metrics.ReasonInvalid, invalid(err)
	}
	return res, "", nil
}

// storeCheck prepares the inbound limit of key for the store to check in
// its write, or answers nil when the store or the limiter cannot.
func (s *Server) storeCheck(rt *Runtime, key string) *ratelimit.Check {
	if s.checker == nil {
		return nil
	}
	check, err := s.checker.Check(key, rt.Inbound)
	if err != nil {
		return nil // an invalid limit: the limiter's own call reports it
	}
	return &check
}
