package redisstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// errConflict means the write found the lead, an identity key or the
// duplicate key other than Ingest decided on.
var errConflict = errors.New("lead changed concurrently")

// Ingest applies the duplicate rule, resolves the lead, decides the events
// and stores them with their deliveries. It first writes as if the person
// were new, which takes one round trip and is right for most payloads; the
// write script refuses it (CONFLICT) when any identity key is already
// known, answering what it found, and Ingest decides again on that and
// writes again, retrying while concurrent writes win. A request's inbound
// limit (req.Limit) is checked by the first write only, atomically with
// it. See the package doc.
func (s *Store) Ingest(ctx context.Context, req store.IngestRequest) (store.IngestResult, error) {
	if len(req.Identity) == 0 {
		return store.IngestResult{}, errors.New("ingest: at least one identity key is required")
	}
	if req.ReceivedAt.IsZero() {
		req.ReceivedAt = time.Now()
	}
	var (
		decision *store.LimitDecision
		known    *leadState
	)
	for attempt := 1; ; attempt++ {
		res, d, now, err := s.ingestOnce(ctx, req, known)
		if d != nil {
			decision, req.Limit = d, nil // admitted once, counted once
			if !d.Allowed {
				return store.IngestResult{Limit: d}, nil
			}
		}
		if !errors.Is(err, errConflict) {
			res.Limit = decision
			return res, err
		}
		known = now
		if attempt == maxIngestAttempts {
			// Contention passes: the sender is told to retry (503), not that
			// the request cannot succeed.
			return store.IngestResult{}, fmt.Errorf("ingest: gave up after %d attempts: %w: %w", attempt, store.ErrUnavailable, err)
		}
		if attempt > 1 {
			s.log.Debug("ingest conflict, retrying", "source", req.Source, "attempt", attempt)
		}
		// Every conflict but the first (someone known) means another write
		// won, so a retry soon succeeds; past a few, a short jittered pause
		// spreads a burst of payloads for one person.
		if attempt >= 4 {
			pause := time.Duration(mrand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
			select {
			case <-ctx.Done():
				return store.IngestResult{}, unavailable("ingest", ctx.Err())
			case <-time.After(pause):
			}
		}
	}
}

// leadState is what a CONFLICT found: the lead the identity rule
// resolves the request's keys to ("" for a new one), its snapshot and its
// version.
type leadState struct {
	id, snapshot, version string
}

// ingestOnce is one decide-write pass on known, or with known nil on the
// guess that the person is new (the write script's resolution of the
// identity keys finds out if not). It returns errConflict, with what the
// write found, when the lead the keys resolve to, its version or the
// duplicate key changed, and the limit's decision when req.Limit was
// checked.
func (s *Store) ingestOnce(ctx context.Context, req store.IngestRequest, known *leadState) (store.IngestResult, *store.LimitDecision, *leadState, error) {
	w, err := decideWrite(req, known)
	if err != nil {
		return store.IngestResult{}, nil, nil, err
	}
	block, held, err := s.writeBlock(req, w)
	if err != nil {
		return store.IngestResult{}, nil, nil, err
	}
	reply, err := s.batch.write(ctx, block)
	if err != nil {
		return store.IngestResult{}, nil, nil, unavailable("ingest: write lead", err)
	}
	var decision *store.LimitDecision
	if req.Limit != nil {
		if decision, err = limitDecision(req.Limit, reply[1:6]); err != nil {
			return store.IngestResult{}, nil, nil, err
		}
	}
	res, now, err := writeOutcome(reply)
	if err == nil && reply[0] == "OK" {
		res = store.IngestResult{LeadID: w.leadID, Events: w.events, FieldsDropped: w.merged.FieldsDropped, Held: held}
	}
	if err != nil && !errors.Is(err, errConflict) {
		return store.IngestResult{}, nil, nil, err
	}
	return res, decision, now, err
}

// plannedWrite is what one pass decided: the lead it writes, at which
// version, expecting which one, and its events.
type plannedWrite struct {
	leadID   string
	merged   lead.Lead
	snap     []byte
	expected string // "": a lead id made just now, no one else can have written it
	next     int64
	events   []lead.Event
}

// decideWrite decides req on known (nil: the person is new). The version
// is the lead_version: one more when the stored lead changes (or is
// made), the same when the payload changed nothing.
func decideWrite(req store.IngestRequest, known *leadState) (plannedWrite, error) {
	var prev *lead.Lead
	if known != nil && known.snapshot != "" {
		var l lead.Lead
		if err := decodeJSON(known.snapshot, &l); err != nil {
			return plannedWrite{}, fmt.Errorf("ingest: decode lead %s: %w", known.id, err)
		}
		prev = &l
	}
	w := plannedWrite{next: 1}
	isKnown := known != nil && known.id != ""
	if isKnown {
		w.leadID, w.expected = known.id, known.version
	} else {
		w.leadID = lead.NewLeadID() // resolved to a new lead: nothing to expect
	}
	merged, drafts := lead.Decide(prev, req.Lead, req.Emits)
	snap, err := json.Marshal(merged)
	if err != nil {
		return plannedWrite{}, fmt.Errorf("ingest: encode lead: %w", err)
	}
	w.merged, w.snap = merged, snap
	if isKnown {
		v, err := strconv.ParseInt(w.expected, 10, 64)
		if err != nil {
			return plannedWrite{}, fmt.Errorf("ingest: lead %s has version %q", w.leadID, w.expected)
		}
		w.next = v
		if prev == nil || len(lead.Diff(*prev, merged)) > 0 {
			w.next = v + 1
		}
	}
	w.events = lead.NewEvents(drafts, merged, req.Source, w.leadID, w.next, req.ReceivedAt, lead.NewEventID)
	return w, nil
}

// writeBlock is writeScript's block for one Ingest (see there), and the
// held delivery when req.Hold applies to one.
func (s *Store) writeBlock(req store.IngestRequest, w plannedWrite) ([]any, *store.Delivery, error) {
	received := req.ReceivedAt.UnixMilli()
	// The key lives on the wall clock for the whole window, however far
	// ReceivedAt is from now; the window itself is judged on ReceivedAt.
	dupKey, dupEnd, dupPX := "", received+req.DedupeTTL.Milliseconds(), int64(0)
	if req.DedupeKey != "" && req.DedupeTTL > 0 {
		dupKey = s.keys.dup(req.DedupeKey)
		dupPX = max(req.DedupeTTL.Milliseconds(), dupEnd-time.Now().UnixMilli(), 1)
	}
	limitKey, limitArgs := "", []any{"", "", ""}
	if req.Limit != nil {
		limitKey, limitArgs = req.Limit.Key, scriptCheck(req.Limit).Args()
	}
	block := make([]any, 0, 20+len(req.Identity)+8*len(w.events))
	block = append(block, 0, s.keys.lead(w.leadID), dupKey, dupPX, strconv.FormatInt(dupEnd, 10)+" "+w.leadID,
		received, w.expected, w.leadID, w.snap, w.next, req.RequestID, limitKey)
	block = append(block, limitArgs...)
	block = append(block, len(req.Identity))
	for _, k := range req.Identity {
		block = append(block, k)
	}
	block = append(block, len(w.events))
	var (
		held *store.Delivery
		mid  []byte
	)
	for i := range w.events {
		ev := &w.events[i]
		body, m, err := eventParts(ev)
		if err != nil {
			return nil, nil, fmt.Errorf("ingest: encode event: %w", err)
		}
		if mid == nil {
			mid = m
		}
		if body == nil || !bytes.Equal(m, mid) {
			// Stored whole, as events were before (see writeScript).
			if body, err = encodeEvent(ev, w.snap); err != nil {
				return nil, nil, fmt.Errorf("ingest: encode event: %w", err)
			}
		}
		dests := routeOnce(req.Route, ev)
		block = append(block, ev.ID, body, len(dests))
		for j, dest := range dests {
			// A held delivery goes to the in-flight set, leased until
			// the hold ends, instead of the queue (see writeScript).
			until := ""
			if h := req.Hold; h != nil && held == nil && dest == h.Destination && (req.Ordered == nil || !req.Ordered(dest)) {
				until = strconv.FormatInt(h.Until.UnixMilli(), 10)
				held = &store.Delivery{ID: "dlv_" + strings.TrimPrefix(ev.ID, "evt_") + "_" + strconv.Itoa(j),
					EventID: ev.ID, Destination: dest, Event: *ev,
					EnqueuedAt: time.UnixMilli(received), RequestID: req.RequestID}
			}
			block = append(block, destArg(dest, req.Ordered), until)
		}
	}
	block = append(block, mid, snapshotID(w.events), req.Source)
	block[0] = len(block)
	return block, held, nil
}

// writeOutcome reads a write's status: nothing to add for "OK" and
// "LIMIT", what the write found with errConflict, the duplicate's lead
// (and kept answer) for "DUP:".
func writeOutcome(reply []string) (store.IngestResult, *leadState, error) {
	switch out := reply[0]; {
	case out == "OK", out == "LIMIT":
		return store.IngestResult{}, nil, nil
	case out == "CONFLICT":
		if len(reply) != 9 {
			return store.IngestResult{}, nil, fmt.Errorf("ingest: write lead: conflict answered %d values", len(reply))
		}
		return store.IngestResult{}, &leadState{id: reply[6], snapshot: reply[7], version: reply[8]}, errConflict
	case strings.HasPrefix(out, "DUP:"):
		// "DUP:<lead id>", or "DUP:<lead id> <answer JSON>" once
		// KeepAnswer kept one.
		id, kept, _ := strings.Cut(strings.TrimPrefix(out, "DUP:"), " ")
		res := store.IngestResult{LeadID: id, Duplicate: true}
		if kept != "" {
			var a store.Answer
			if err := json.Unmarshal([]byte(kept), &a); err != nil {
				return store.IngestResult{}, nil, fmt.Errorf("ingest: decode kept answer: %w", err)
			}
			res.Answer = &a
		}
		return res, nil, nil
	default:
		return store.IngestResult{}, nil, fmt.Errorf("ingest: write lead: unexpected reply %q", out)
	}
}

// scriptCheck is c as the limiter's script reads it: the store carries the
// check, ratelimit owns its arguments and the reading of its reply.
func scriptCheck(c *store.LimitCheck) ratelimit.Check {
	return ratelimit.Check{Key: c.Key, Limit: ratelimit.Limit{Requests: c.Requests, Per: c.Per},
		WindowUS: c.WindowUS, Member: c.Member}
}

// limitDecision reads the limiter script's five values of the write's reply.
func limitDecision(c *store.LimitCheck, reply []string) (*store.LimitDecision, error) {
	nums, err := parseInts(reply)
	if err != nil {
		return nil, err
	}
	d, _, err := scriptCheck(c).Decision(nums)
	if err != nil {
		return nil, err
	}
	return &store.LimitDecision{Allowed: d.Allowed, Remaining: d.Remaining, Reset: d.Reset, RetryAfter: d.RetryAfter}, nil
}

// LimitsIngest reports that Ingest checks IngestRequest.Limit itself, in
// its write script: the inbound limit costs no round trip of its own. Only
// a store with the default prefix can: the limiter's windows carry that
// hash tag ({gw}), and a script's keys must share one Cluster slot. main
// asks once, when it opens the store (openBackend).
func (s *Store) LimitsIngest() bool { return s.keys.base == newKeys(DefaultPrefix).base }

// routeOnce asks the router for an event's destinations, dropping empty
// names and repeats: one delivery per (event, destination).
func routeOnce(route func(*lead.Event) []string, ev *lead.Event) []string {
	if route == nil {
		return nil
	}
	names := route(ev)
	out := names[:0:0]
	for _, n := range names {
		if n == "" || contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newToken names a batch's reply key, which lets the write script
// recognise its own earlier, already applied run.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// decodeJSON keeps numbers in Fields as json.Number, so a stored 5000 or a
// large integer is delivered exactly as it came in.
func decodeJSON(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	return dec.Decode(v)
}

// encodeEvent writes ev as json.Marshal would, with leadJSON as its lead.
func encodeEvent(ev *lead.Event, leadJSON []byte) ([]byte, error) {
	return lead.AppendEventJSON(nil, ev, leadJSON, true)
}

// snapshotID names the snapshot an Ingest stores once for its lead and
// events (sn:ID): its first event's id, unique already, or a fresh one.
func snapshotID(events []lead.Event) string {
	if len(events) > 0 {
		return events[0].ID
	}
	return lead.NewEventID()
}

// leadMember is how an event's JSON ends: its lead is its last member.
const leadTail = `,"lead":`

// eventParts splits ev's JSON without its lead into what the event alone
// has, frag ("event" and "changed"), and what every event of its Ingest
// shares, mid (source, lead_id, lead_version, received_at), kept once
// with the snapshot. The scripts join them as
// {"id":"ID",FRAG MID,"lead":SNAPSHOT} (see eventBody): the same event,
// members reordered, and a frag short enough for Redis to keep the event
// hash compact (a listpack: every value at most 64 bytes). frag is nil
// for an id that JSON would escape.
func eventParts(ev *lead.Event) (frag, mid []byte, err error) {
	b, err := encodeEvent(ev, nil)
	if err != nil {
		return nil, nil, err
	}
	head := b[:len(b)-len(leadTail)-1]
	pre := `{"id":"` + ev.ID + `",`
	// No JSON string holds an unescaped quote, so the first ,"source":
	// and the ,"changed": after it are members.
	i := bytes.Index(head, []byte(`,"source":`))
	if !bytes.HasPrefix(head, []byte(pre)) || i < len(pre) {
		return nil, nil, nil
	}
	j := len(head)
	if k := bytes.Index(head[i:], []byte(`,"changed":`)); k >= 0 {
		j = i + k
	}
	frag = append(head[len(pre):i:i], head[j:]...)
	return frag, head[i:j], nil
}
