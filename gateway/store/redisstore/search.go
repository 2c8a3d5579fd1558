package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// searchScanKeys bounds the event keys one Events call walks. Redis keeps
// no time index of events (Ingest would pay for it on every request), so
// the listing SCANs the event keys, which is fine for an operator's search
// and bounded for a large keyspace; the caller goes on from next.
const searchScanKeys = 200_000

// searchFetch is how many event bodies one round trip reads.
const searchFetch = 100

// Events lists events newest first. Event ids are time-ordered, so the ids
// found by SCAN are sorted and read newest first; an email or phone is
// turned into a lead id through the identity index, and a lead id filters
// the bodies read.
func (s *Store) Events(ctx context.Context, q store.EventQuery) ([]lead.Event, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	leadID, ok, err := s.resolveLead(ctx, q)
	if err != nil || !ok {
		return nil, "", err
	}
	if q.EventID != "" {
		evs, err := s.eventByID(ctx, q.EventID, leadID)
		return evs, "", err
	}

	ids, truncated, err := s.eventIDs(ctx, q.Cursor)
	if err != nil {
		return nil, "", err
	}
	var out []lead.Event
	for start := 0; start < len(ids); start += searchFetch {
		batch := ids[start:min(start+searchFetch, len(ids))]
		bodies, err := s.eventBodies(ctx, batch)
		if err != nil {
			return nil, "", err
		}
		for i, raw := range bodies {
			if raw == "" {
				continue // removed between SCAN and read
			}
			if leadID != "" && !strings.Contains(raw, `"lead_id":"`+leadID+`"`) {
				continue
			}
			var ev lead.Event
			if err := decodeJSON(raw, &ev); err != nil {
				return nil, "", fmt.Errorf("decode event %s: %w", batch[i], err)
			}
			if leadID != "" && ev.LeadID != leadID {
				continue
			}
			out = append(out, ev)
			if len(out) == limit {
				if start+i+1 < len(ids) || truncated {
					return out, ev.ID, nil
				}
				return out, "", nil
			}
		}
	}
	if truncated && len(ids) > 0 {
		return out, ids[len(ids)-1], nil
	}
	return out, "", nil
}

// eventByID is the event id names, none when it is gone or, with leadID
// set, of another lead.
func (s *Store) eventByID(ctx context.Context, id, leadID string) ([]lead.Event, error) {
	bodies, err := s.eventBodies(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	raw := bodies[0]
	if raw == "" {
		return nil, nil
	}
	var ev lead.Event
	if err := decodeJSON(raw, &ev); err != nil {
		return nil, fmt.Errorf("decode event %s: %w", id, err)
	}
	if leadID != "" && ev.LeadID != leadID {
		return nil, nil
	}
	return []lead.Event{ev}, nil
}

// bodiesScript reads events' JSON (see eventBody). KEYS: idx (its slot is
// every key's). ARGV: prefix, then event ids. Reply: each one's JSON, ""
// for one that is gone.
var bodiesScript = redis.NewScript(eventBody + `
local out = {}
for i = 2, #ARGV do
  local h = redis.call('HMGET', ARGV[1] .. 'ev:' .. ARGV[i], '_', 'e', 'l')
  out[#out + 1] = body(ARGV[1], ARGV[i], h[1], h[2], h[3]) or ''
end
return out
`)

// eventBodies is the JSON of each event of ids, "" for one that is gone.
func (s *Store) eventBodies(ctx context.Context, ids []string) ([]string, error) {
	args := make([]any, 0, 1+len(ids))
	args = append(args, s.keys.base)
	for _, id := range ids {
		args = append(args, id)
	}
	bodies, err := bodiesScript.Run(ctx, s.rdb, []string{s.keys.idx}, args...).StringSlice()
	if err != nil {
		return nil, unavailable("search events", err)
	}
	if len(bodies) != len(ids) {
		return nil, fmt.Errorf("search events: %d bodies for %d ids", len(bodies), len(ids))
	}
	return bodies, nil
}

// eventIDs SCANs the event keys and returns the ids older than cursor,
// newest first. truncated says the walk stopped at searchScanKeys; the ids
// are then the newest of those seen.
func (s *Store) eventIDs(ctx context.Context, cursor string) (ids []string, truncated bool, err error) {
	var node redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		// Every key shares the hash tag, so one master holds them all.
		m, err := cc.MasterForKey(ctx, s.keys.idx)
		if err != nil {
			return nil, false, unavailable("search events", err)
		}
		node = m
	}
	prefix := s.keys.base + "ev:"
	pattern := globEscape(prefix) + "*"
	var at uint64
	seen := 0
	for {
		keys, nextAt, err := node.Scan(ctx, at, pattern, 1000).Result()
		if err != nil {
			return nil, false, unavailable("search events", err)
		}
		for _, k := range keys {
			id := strings.TrimPrefix(k, prefix)
			if cursor == "" || id < cursor {
				ids = append(ids, id)
			}
		}
		seen += len(keys)
		at = nextAt
		if at == 0 {
			break
		}
		if seen >= searchScanKeys {
			truncated = true
			break
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids) // SCAN may return a key twice
	slices.Reverse(ids)
	return ids, truncated, nil
}

// resolveLead turns the query's lead id, email and phone into one lead id;
// ok is false when they name no lead or different leads.
func (s *Store) resolveLead(ctx context.Context, q store.EventQuery) (leadID string, ok bool, err error) {
	leadID = q.LeadID
	var fields []string
	if q.Email != "" {
		fields = append(fields, "email:"+q.Email)
	}
	if q.Phone != "" {
		fields = append(fields, "phone:"+q.Phone)
	}
	if len(fields) == 0 {
		return leadID, true, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.idx, fields...).Result()
	if err != nil {
		return "", false, unavailable("search events", err)
	}
	for _, v := range vals {
		id, _ := v.(string)
		if id == "" || (leadID != "" && leadID != id) {
			return "", false, nil
		}
		leadID = id
	}
	return leadID, true, nil
}

// globEscape quotes the characters SCAN's MATCH treats as patterns.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
