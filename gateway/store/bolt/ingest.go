package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// maxKey bounds identity and dedupe keys well under bbolt's key limit.
const maxKey = 4096

// Ingest applies the dedupe rule, resolves the lead, decides and stores the
// events and queues their deliveries in one transaction shared with other
// concurrent writes, and returns once that transaction is on disk.
//
// The commit is a single writer, so whatever runs inside it bounds the
// store's throughput. Ingest therefore plans its write first, in the
// caller's goroutine (and a read-only transaction when the lead is known
// already): it resolves the lead, runs lead.Decide, mints the ids, routes
// the events and encodes every value. Inside the commit it only checks that what the plan read is still
// what the file holds (the identity keys, the stored lead) and puts the
// planned bytes; when another write changed them in between, it plans
// again inside the commit, so the outcome is the one a serial run gives.
func (s *Store) Ingest(ctx context.Context, req store.IngestRequest) (store.IngestResult, error) {
	if err := validate(req); err != nil {
		return store.IngestResult{}, err
	}
	if req.ReceivedAt.IsZero() {
		req.ReceivedAt = time.Now()
	}
	// A payload of someone new, the common case, reads nothing from the
	// file: its plan needs no read transaction, whose begin and end cost
	// about as much as the rest of the plan's reads.
	c := &ingestCall{s: s, req: req}
	var err error
	c.p, err = makePlan(nil, &c.req, s.lookupIndex)
	if errors.Is(err, errNeedsRead) {
		err = s.db.View(func(tx *bbolt.Tx) error {
			var err error
			c.p, err = makePlan(tx, &c.req, s.lookupIndex)
			return err
		})
	}
	if err != nil {
		return store.IngestResult{}, unavailable("ingest", err)
	}
	if err := s.submit(ctx, "ingest", c.write, c.after); err != nil {
		return store.IngestResult{}, err
	}
	return c.res, nil
}

// ingestCall is one Ingest's state, shared with its write in the commit
// goroutine: one allocation, where variables captured by closures were
// one each.
type ingestCall struct {
	s    *Store
	req  store.IngestRequest
	p    *plan
	res  store.IngestResult
	used *plan // p, or the plan made inside the commit when p went stale
	// queued counts the deliveries queued per destination.
	queued map[string]int64
}

func (c *ingestCall) write(tx *bbolt.Tx) error {
	c.res, c.queued, c.used = store.IngestResult{}, nil, nil
	return c.s.ingestTx(tx, &c.req, c.p, &c.res, &c.queued, &c.used)
}

func (c *ingestCall) after() {
	if c.used != nil && !c.res.Duplicate && c.used.prevRaw == nil {
		c.s.leads.Add(1)
	}
	if len(c.queued) == 0 {
		return
	}
	s := c.s
	s.mu.Lock()
	for dest, n := range c.queued {
		s.queued[dest] += n
		s.queuedAt(dest, c.req.ReceivedAt.UnixNano())
	}
	s.mu.Unlock()
	s.remember(c.res.Events, c.used.dests, c.req.RequestID)
}

func validate(req store.IngestRequest) error {
	if len(req.Identity) == 0 {
		return errors.New("ingest: no identity key")
	}
	for _, k := range req.Identity {
		if k == "" || len(k) > maxKey {
			return fmt.Errorf("ingest: identity key of length %d", len(k))
		}
	}
	if len(req.DedupeKey) > maxKey {
		return fmt.Errorf("ingest: dedupe key of length %d", len(req.DedupeKey))
	}
	if req.Limit != nil {
		// The in-process limiter is as cheap as this check; the caller
		// applies it before Ingest.
		return errors.New("ingest: the embedded store does not check rate limits")
	}
	return nil
}

// plan is one Ingest's write, worked out from what a transaction read.
type plan struct {
	// seen is what the lead index held for each identity key ("" for
	// none), and prevRaw the stored lead record the plan merged into (nil
	// for a new lead): the plan holds while the file still says the same.
	// The identity rule also read whether the leads the keys name have an
	// email; that never changes back while the keys still name them.
	seen    []string
	prevRaw []byte
	// prevLast and last are the lead's last-seen time before and after
	// (Unix nanoseconds; prevLast 0 for none), its key in bLeadSeen.
	prevLast, last int64

	leadID    string
	recordRaw []byte // the lead's record to store
	dropped   int    // the merged lead's FieldsDropped
	events    []lead.Event
	eventsRaw [][]byte
	// routes are each event's distinct destinations, encoded with
	// encodeRoutes with the request id (nil for none).
	dests     [][]string
	routesRaw [][]byte
	// ordered[i][j] says dests[i][j] wants the lead's events in order
	// (nil: none of event i's does).
	ordered [][]bool
}

// errNeedsRead is makePlan's answer, without a transaction, for a lead
// the index knows: its stored lead must be read first.
var errNeedsRead = errors.New("plan needs a read transaction")

// makePlan reads the lead index through lookup and the stored lead
// through tx and works out everything Ingest writes. With a nil tx it
// plans a new person's payload and answers errNeedsRead for a known one.
func makePlan(tx *bbolt.Tx, req *store.IngestRequest, lookup func(key string) string) (*plan, error) {
	p := &plan{seen: make([]string, len(req.Identity))}
	prev, prevRec, err := p.resolve(tx, req, lookup)
	if err != nil {
		return nil, err
	}
	merged, drafts := lead.Decide(prev, req.Lead, req.Emits)
	p.dropped = merged.FieldsDropped
	// One buffer holds the lead's bytes (json.Marshal's, HTML escaped,
	// without its reflection) and then every event's: each event is the
	// lead and an envelope of about eventEnvelope bytes, so the buffer
	// is sized once, from the lead encoded on the stack. Full slice
	// expressions keep a later append from writing into an earlier
	// value's capacity.
	var stack [512]byte
	enc, err := lead.AppendLeadJSON(stack[:0], &merged, true)
	if err != nil {
		return nil, fmt.Errorf("encode lead: %w", err)
	}
	buf := append(make([]byte, 0, len(enc)+len(drafts)*(eventEnvelope+len(enc))), enc...)
	leadRaw := buf[:len(buf):len(buf)]
	rec := p.record(req, prev, &prevRec, &merged, leadRaw)
	p.events = lead.NewEvents(drafts, merged, req.Source, p.leadID, rec.version, req.ReceivedAt, lead.NewEventID)
	if err := p.encodeEvents(req, buf, leadRaw); err != nil {
		return nil, err
	}
	return p, nil
}

// resolve reads the lead index through lookup and, for a known lead, its
// stored record through tx: it sets p.seen, p.leadID and p.prevRaw and
// returns the stored lead (nil for a new one) and its record.
func (p *plan) resolve(tx *bbolt.Tx, req *store.IngestRequest, lookup func(key string) string) (*lead.Lead, leadRecord, error) {
	known := false
	for i, k := range req.Identity {
		if p.seen[i] = lookup(k); p.seen[i] != "" {
			known = true
		}
	}
	if !known {
		p.leadID = newLeadID()
		return nil, leadRecord{}, nil
	}
	if tx == nil {
		return nil, leadRecord{}, errNeedsRead
	}
	id, err := store.Resolve(req.Identity, lookup, func(id string) (bool, error) {
		r, ok, err := getLeadRecord(tx, id)
		return ok && store.HasEmail(r.leadJSON), err
	})
	if err != nil {
		return nil, leadRecord{}, err
	}
	p.leadID = id
	if id == "" {
		p.leadID = newLeadID()
		return nil, leadRecord{}, nil
	}
	raw := tx.Bucket(bLeads).Get([]byte(id))
	if raw == nil {
		return nil, leadRecord{}, nil
	}
	// The bytes live in the mmap only while tx is open.
	p.prevRaw = bytes.Clone(raw)
	prevRec, err := decodeRecord(p.prevRaw)
	if err != nil {
		return nil, leadRecord{}, fmt.Errorf("lead %s: %w", id, err)
	}
	prev := new(lead.Lead)
	if err := decodeJSON(prevRec.leadJSON, prev); err != nil {
		return nil, leadRecord{}, fmt.Errorf("decode lead %s: %w", id, err)
	}
	return prev, prevRec, nil
}

// record works out the lead's record after req (merged, encoded as
// leadRaw, over prev and its record prevRec, or a new lead when prev is
// nil) and sets p.recordRaw, p.prevLast and p.last.
func (p *plan) record(req *store.IngestRequest, prev *lead.Lead, prevRec *leadRecord, merged *lead.Lead, leadRaw []byte) leadRecord {
	rec := leadRecord{version: 1, first: req.ReceivedAt.UnixNano(), last: req.ReceivedAt.UnixNano(), leadJSON: leadRaw}
	if prev != nil {
		rec.version = prevRec.version
		if len(lead.Diff(*prev, *merged)) > 0 {
			rec.version++
		}
		if prevRec.first != 0 {
			rec.first = prevRec.first
		}
		rec.last = max(prevRec.last, rec.last)
		rec.keys = prevRec.keys
		rec.sources = prevRec.sources
	}
	if i, found := slices.BinarySearch(rec.sources, req.Source); !found {
		rec.sources = slices.Insert(slices.Clip(rec.sources), i, req.Source)
	}
	for _, k := range req.Identity {
		if !slices.Contains(rec.keys, k) {
			rec.keys = append(rec.keys, k)
		}
	}
	p.prevLast, p.last = prevRec.last, rec.last
	p.recordRaw = appendRecord(make([]byte, 0, 64+len(leadRaw)), &rec)
	return rec
}

// encodeEvents encodes p.events after the lead in buf (leadRaw) and
// routes them.
func (p *plan) encodeEvents(req *store.IngestRequest, buf, leadRaw []byte) error {
	at := req.ReceivedAt.UnixNano()
	raws := make([][]byte, 2*len(p.events))
	p.eventsRaw, p.routesRaw = raws[:len(p.events):len(p.events)], raws[len(p.events):]
	p.dests = make([][]string, len(p.events))
	for i := range p.events {
		ev := &p.events[i]
		start := len(buf)
		var err error
		if buf, err = encodeEvent(buf, ev, leadRaw); err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		p.eventsRaw[i] = buf[start:len(buf):len(buf)]
		if req.Route == nil {
			continue
		}
		var dests []string
		for _, dest := range req.Route(ev) {
			if dest != "" && !slices.Contains(dests, dest) {
				dests = append(dests, dest)
			}
		}
		if len(dests) > 0 {
			p.dests[i] = dests
			p.routesRaw[i] = encodeRoutes(at, req.RequestID, dests)
			p.ordered = orderedDests(p.ordered, len(p.events), i, dests, req.Ordered)
		}
	}
	return nil
}

// holds says whether the commit (tx and lookup) still reads what p was
// planned from.
func (p *plan) holds(tx *bbolt.Tx, req *store.IngestRequest, lookup func(key string) string) bool {
	for i, k := range req.Identity {
		if lookup(k) != p.seen[i] {
			return false
		}
	}
	if p.prevRaw == nil {
		// A lead id found in the index with no stored lead, or a new one.
		return tx.Bucket(bLeads).Get([]byte(p.leadID)) == nil
	}
	return bytes.Equal(tx.Bucket(bLeads).Get([]byte(p.leadID)), p.prevRaw)
}

// ingestTx runs in the commit goroutine.
func (s *Store) ingestTx(tx *bbolt.Tx, req *store.IngestRequest, p *plan, res *store.IngestResult, queued *map[string]int64, used **plan) error {
	at := req.ReceivedAt.UnixNano()
	if req.DedupeKey != "" {
		if e, ok := s.lookupDedupe(req.DedupeKey); ok && e.exp > at {
			res.LeadID, res.Duplicate = s.odd.name(e.lead), true
			return keptAnswer(tx, e.exp, req.DedupeKey, res)
		}
	}
	if !p.holds(tx, req, s.lookupIndexTx) {
		var err error
		if p, err = makePlan(tx, req, s.lookupIndexTx); err != nil {
			return err
		}
	}
	*used = p

	for i, k := range req.Identity {
		if p.seen[i] != p.leadID {
			if err := s.pointIndex(tx, k, p.leadID); err != nil {
				return err
			}
		}
	}
	if err := appending(tx.Bucket(bLeads)).Put([]byte(p.leadID), p.recordRaw); err != nil {
		return err
	}
	if p.last != p.prevLast {
		seen := appending(tx.Bucket(bLeadSeen))
		if p.prevLast != 0 {
			if err := seen.Delete(timeKey(p.prevLast, p.leadID)); err != nil {
				return err
			}
		}
		if err := seen.Put(timeKey(p.last, p.leadID), nil); err != nil {
			return err
		}
	}
	events := appending(tx.Bucket(bEvents))
	for i := range p.events {
		ev := &p.events[i]
		if err := events.Put([]byte(ev.ID), p.eventsRaw[i]); err != nil {
			return err
		}
		var ordered []bool
		if p.ordered != nil {
			ordered = p.ordered[i]
		}
		if err := fanOut(tx, ev, p.dests[i], ordered, p.routesRaw[i], at, queued); err != nil {
			return err
		}
	}
	res.LeadID = p.leadID
	res.Events = p.events
	res.FieldsDropped = p.dropped
	if req.Hold != nil {
		s.hold(req, p, res)
	}

	if req.DedupeKey != "" {
		// An expired entry of the same key stays in the log until the
		// sweep reaches it; the index keeps the newest.
		exp := at + int64(req.DedupeTTL)
		if err := appending(tx.Bucket(bDedupeExp)).Put(timeKey(exp, req.DedupeKey), []byte(p.leadID)); err != nil {
			return err
		}
		s.holdDedupe(req.DedupeKey, exp, p.leadID)
	}
	return nil
}

// orderedDests records, in ordered (made on first use for n events),
// which of event i's dests want a lead's events in order.
func orderedDests(ordered [][]bool, n, i int, dests []string, wants func(string) bool) [][]bool {
	if wants == nil {
		return ordered
	}
	var flags []bool
	for j, d := range dests {
		if wants(d) {
			if flags == nil {
				flags = make([]bool, len(dests))
			}
			flags[j] = true
		}
	}
	if flags == nil {
		return ordered
	}
	if ordered == nil {
		ordered = make([][]bool, n)
	}
	ordered[i] = flags
	return ordered
}

// fanOut queues one delivery of ev per destination, due at at. It writes
// only the event's route and the due-index keys: a delivery's record is
// written when it is first settled. A delivery to a destination that
// ordered marks joins its lead's line, and is queued only when it is the
// line's head.
func fanOut(tx *bbolt.Tx, ev *lead.Event, dests []string, ordered []bool, routes []byte, at int64, queued *map[string]int64) error {
	if len(dests) == 0 {
		return nil
	}
	if err := appending(tx.Bucket(bRoutes)).Put([]byte(ev.ID), routes); err != nil {
		return err
	}
	for i, dest := range dests {
		id := deliveryID(ev.ID, i)
		if ordered != nil && ordered[i] {
			head, err := joinLine(tx, dest, ev.LeadID, id)
			if err != nil {
				return err
			}
			if !head {
				continue
			}
		}
		if err := queue(tx, dest, at, id); err != nil {
			return err
		}
		if *queued == nil {
			*queued = map[string]int64{}
		}
		(*queued)[dest]++
	}
	return nil
}

// eventEnvelope is about an event's JSON apart from its lead (ids, names,
// time, a short changed list), for sizing the plan's buffer; a longer one
// only grows it.
const eventEnvelope = 224

// encodeEvent appends ev as json.Marshal would write it, with its lead
// already encoded as leadRaw, so the lead shared by one payload's events
// is encoded once.
func encodeEvent(b []byte, ev *lead.Event, leadRaw []byte) ([]byte, error) {
	return lead.AppendEventJSON(b, ev, leadRaw, true)
}
