package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/deliver"
	"leadgate/gateway/httperr"
	"leadgate/gateway/lead"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/requestid"
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
	if err == nil {
		// Before the targets of errors.As, which escape: declared first,
		// they cost every answered request two allocations.
		return fiber.StatusOK
	}
	var he *httperr.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &fe):
		return fe.Code
	}
	return fiber.StatusInternalServerError
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

// accept is the inbound path: limit, read, authenticate, parse, map,
// store, answer. m is source's mapping, nil for an unknown source. Nothing
// is stored for a rejected request.
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
	var r intake
	if err := s.parse(ctx, c, rt, m, source, addr, &r); err != nil {
		return err
	}
	res, err := s.mapRequest(ctx, c, rt, m, source, &r)
	if err != nil {
		return err
	}
	ing, err := s.ingest(ctx, c, rt, m, source, &r, res)
	if err != nil {
		return err
	}
	return s.answer(ctx, c, source, ing, res.FieldsDropped)
}

// intake is what one known source's request carries from step to step of
// accept.
type intake struct {
	// key is the request's limit key; limited says it was decided; check
	// is set when the store decides it instead, in its write (Redis), in
	// the one round trip that stores the events.
	key     string
	limited bool
	check   *store.LimitCheck

	raw               []byte
	in                mapping.Input
	tooLarge          bool
	parseErr, authErr error
}

// parse limits, reads, authenticates and parses the request into r.
//
// The limit's client key (contract §3) is the client's address unless the
// source authenticates, the request passed, and the mapping keys on
// something the request names: a caller can neither dodge the limit by
// naming a new key each time nor spend another client's quota. When the
// key is the address whatever the body says (an open source, or
// rate_limit_key: ip), the limit is checked before the body is read, so a
// flood from one address costs no parse. The error is a limit's; a bad
// body or a failed authentication is left in r for mapRequest.
func (s *Server) parse(ctx context.Context, c *fiber.Ctx, rt *Runtime, m *mapping.Mapping, source, addr string, r *intake) error {
	r.key = "in:" + source + ":ip:" + addr
	early := !m.HasAuth() || m.KeysByAddress()
	if early {
		var err error
		if r.limited, r.check, err = s.limitBefore(ctx, c, rt, r.key); err != nil {
			return err
		}
	}

	var readErr error
	r.raw, r.tooLarge, readErr = requestBody(c, rt.BodyLimit)
	r.in = mapping.Input{
		Raw:      r.raw,
		Query:    func(k string) string { return strings.Clone(c.Query(k)) },
		Header:   func(k string) string { return strings.Clone(c.Get(k)) },
		RemoteIP: addr,
		Now:      s.opts.Now(),
		NoTrace:  true, // the trace is for `gateway map`; skipping it halves allocations
	}
	// Authentication reads the raw body only: a request that fails it is
	// limited by its address and answered before anything parses its body.
	r.parseErr = readErr
	if r.tooLarge {
		r.parseErr = errTooLarge
	}
	if r.parseErr == nil {
		r.authErr = m.Authenticate(r.in)
	}
	if r.parseErr == nil && r.authErr == nil {
		r.in.Body, r.parseErr = mapping.ParseBody(c.Get(fiber.HeaderContentType), r.raw)
	}
	if !early {
		if r.parseErr == nil && r.authErr == nil {
			r.key = rateKey(m, r.in)
		}
		var err error
		if r.limited, r.check, err = s.limitBefore(ctx, c, rt, r.key); err != nil {
			return err
		}
	}
	return nil
}

// mapRequest maps the parsed request, or answers why it is rejected.
func (s *Server) mapRequest(ctx context.Context, c *fiber.Ctx, rt *Runtime, m *mapping.Mapping, source string, r *intake) (mapping.Result, error) {
	res, reason, err := admit(m, r.in, rt, r.tooLarge, r.parseErr, r.authErr)
	if err != nil {
		// Rejected before the store: counted here, so every request counts.
		if !r.limited {
			if lerr := s.limit(ctx, c, rt, r.key); lerr != nil {
				return res, lerr
			}
		}
		s.fail(source, reason)
		return res, err
	}
	return res, nil
}

// ingested is what ingest hands answer: the store's result and what a
// mapping's respond needs.
type ingested struct {
	store.IngestResult
	dedupe string
	resp   *mapping.Respond
	hold   *store.Hold
	why    string
}

// ingest stores the mapped lead, and sets the rate-limit headers when the
// store decided the limit.
func (s *Server) ingest(ctx context.Context, c *fiber.Ctx, rt *Runtime, m *mapping.Mapping, source string, r *intake, res mapping.Result) (ingested, error) {
	ing := ingested{dedupe: dedupeKey(source, c.Request().URI().QueryString(), r.raw), resp: m.Respond()}
	ing.hold, ing.why = s.holdFor(ing.resp)
	out, err := s.opts.Store.Ingest(ctx, store.IngestRequest{
		Source:     source,
		DedupeKey:  ing.dedupe,
		DedupeTTL:  s.opts.DedupeTTL,
		Identity:   res.Identity,
		Lead:       res.Lead,
		Emits:      m.Emits(),
		ReceivedAt: r.in.Now,
		Route:      s.route(rt),
		Ordered:    s.ordered(rt),
		RequestID:  requestid.Get(c),
		Limit:      r.check,
		Hold:       ing.hold,
	})
	if err != nil {
		if r.check != nil {
			s.limitUnknown(c, rt)
		}
		// Only an outage is worth a retry; anything else would fail the
		// same way on every retry, so the sender is told it is not its
		// to fix (500) rather than asked to come back forever (503).
		if errors.Is(err, store.ErrUnavailable) {
			return ing, &httperr.Error{Code: fiber.StatusServiceUnavailable, Msg: "store unavailable, retry later", RetryAfter: 1, Err: err}
		}
		return ing, internalError(c, err)
	}
	ing.IngestResult = out
	if out.Limit != nil {
		if err := s.decided(c, r.key, inboundDecision(r.check, out.Limit)); err != nil {
			return ing, err
		}
	}
	return ing, nil
}

// answer counts what was stored and answers the request: the mapping's
// respond when it has one, else the contract's success body.
func (s *Server) answer(ctx context.Context, c *fiber.Ctx, source string, ing ingested, restDropped int) error {
	out := ing.IngestResult
	s.stored(source, out, restDropped)
	if s.log.Enabled(ctx, slog.LevelDebug) { // its arguments alone allocate
		s.log.Debug("accepted", "request_id", requestid.Get(c), "source", source, "lead_id", out.LeadID,
			"events", len(out.Events), "duplicate", out.Duplicate)
	}
	if ing.resp != nil {
		return s.respond(c, source, ing.resp, ing.hold, ing.why, ing.dedupe, out)
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
