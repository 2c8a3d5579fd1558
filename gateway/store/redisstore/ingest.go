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
	"strings"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// errConflict means the lead changed between Ingest's read and its write.
var errConflict = errors.New("lead changed concurrently")

// Ingest applies the duplicate rule, resolves the lead, decides the events
// and stores them with their deliveries in two round trips; see the package
// doc for the optimistic check between them.
func (s *Store) Ingest(ctx context.Context, req store.IngestRequest) (store.IngestResult, error) {
	if len(req.Identity) == 0 {
		return store.IngestResult{}, errors.New("ingest: at least one identity key is required")
	}
	if req.ReceivedAt.IsZero() {
		req.ReceivedAt = time.Now()
	}
	for attempt := 1; ; attempt++ {
		res, err := s.ingestOnce(ctx, req)
		if !errors.Is(err, errConflict) {
			return res, err
		}
		if attempt == maxIngestAttempts {
			return store.IngestResult{}, fmt.Errorf("ingest: gave up after %d attempts: %w", attempt, err)
		}
		s.log.Debug("ingest conflict, retrying", "source", req.Source, "attempt", attempt)
		// Every conflict means another write won, so a retry soon
		// succeeds; past a few, a short jittered pause spreads a burst
		// of payloads for one person.
		if attempt >= 3 {
			pause := time.Duration(mrand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
			select {
			case <-ctx.Done():
				return store.IngestResult{}, unavailable("ingest", ctx.Err())
			case <-time.After(pause):
			}
		}
	}
}

// ingestOnce is one read-decide-write pass; it returns errConflict when the
// write found the lead, an identity key or the duplicate key changed.
func (s *Store) ingestOnce(ctx context.Context, req store.IngestRequest) (store.IngestResult, error) {
	received := req.ReceivedAt.UnixMilli()
	dupKey, hasDup := s.keys.dup(req.DedupeKey), "0"
	// The key lives on the wall clock for the whole window, however far
	// ReceivedAt is from now; the window itself is judged on ReceivedAt.
	dupEnd, dupPX := received+req.DedupeTTL.Milliseconds(), int64(0)
	if req.DedupeKey != "" && req.DedupeTTL > 0 {
		hasDup = "1"
		dupPX = max(req.DedupeTTL.Milliseconds(), dupEnd-time.Now().UnixMilli(), 1)
	}

	args := make([]any, 0, 3+len(req.Identity))
	args = append(args, hasDup, s.keys.base, received)
	for _, k := range req.Identity {
		args = append(args, k)
	}
	reply, err := s.batch.run(ctx, readScript, []string{s.keys.idx, dupKey}, args...).StringSlice()
	if err != nil {
		return store.IngestResult{}, unavailable("ingest: read lead", err)
	}
	if len(reply) >= 2 && reply[0] == "DUP" {
		return store.IngestResult{LeadID: reply[1], Duplicate: true}, nil
	}
	if len(reply) != 4+len(req.Identity) || reply[0] != "OK" {
		return store.IngestResult{}, fmt.Errorf("ingest: read lead: unexpected reply of %d values", len(reply))
	}
	leadID, snapshot, version, current := reply[1], reply[2], reply[3], reply[4:]

	var prev *lead.Lead
	if snapshot != "" {
		var l lead.Lead
		if err := decodeJSON(snapshot, &l); err != nil {
			return store.IngestResult{}, fmt.Errorf("ingest: decode lead %s: %w", leadID, err)
		}
		prev = &l
	}
	if leadID == "" {
		leadID = lead.NewLeadID()
	}
	merged, drafts := lead.Decide(prev, req.Lead, req.Emits)
	snap, err := json.Marshal(merged)
	if err != nil {
		return store.IngestResult{}, fmt.Errorf("ingest: encode lead: %w", err)
	}

	events := lead.NewEvents(drafts, merged, req.Source, leadID, req.ReceivedAt, lead.NewEventID)
	wargs := make([]any, 0, 17+2*len(req.Identity)+8*len(drafts))
	wargs = append(wargs, newToken(), version, leadID, snap, dupPX, s.keys.base,
		received, s.retention.Milliseconds(), dupEnd, len(req.Identity))
	for i, k := range req.Identity {
		wargs = append(wargs, k, current[i])
	}
	wargs = append(wargs, req.RequestID, len(drafts))
	for i := range events {
		body, err := encodeEvent(&events[i], snap)
		if err != nil {
			return store.IngestResult{}, fmt.Errorf("ingest: encode event: %w", err)
		}
		dests := routeOnce(req.Route, &events[i])
		wargs = append(wargs, events[i].ID, body, len(dests))
		for _, dest := range dests {
			wargs = append(wargs, dest)
		}
	}

	keys := []string{s.keys.idx, s.keys.lead(leadID), dupKey, s.keys.pending}
	out, err := s.batch.run(ctx, writeScript, keys, wargs...).Text()
	if err != nil {
		return store.IngestResult{}, unavailable("ingest: write lead", err)
	}
	switch {
	case out == "OK":
		return store.IngestResult{LeadID: leadID, Events: events}, nil
	case out == "CONFLICT":
		return store.IngestResult{}, errConflict
	case strings.HasPrefix(out, "DUP:"):
		return store.IngestResult{LeadID: strings.TrimPrefix(out, "DUP:"), Duplicate: true}, nil
	}
	return store.IngestResult{}, fmt.Errorf("ingest: write lead: unexpected reply %q", out)
}

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

// newToken makes the write token that lets the write script recognise its
// own earlier, already applied run.
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
