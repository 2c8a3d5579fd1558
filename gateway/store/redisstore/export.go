package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/store"
)

// leadsPageScript hands out the next page of the last-seen set for Leads,
// in its order (score, then member), as member and score pairs. A sorted
// set's range by score cannot start after a member of equal score, so the
// page after a cursor (its score and lead id) goes by rank from the
// cursor's lead while that lead is still where the cursor left it, all in
// one atomic step; when the lead has moved on (seen again) or gone, it
// skips the members of the cursor's score up to its id instead.
//
// KEYS: leads. ARGV: min score (inclusive; "-inf" for none), max score
// (exclusive "(ms" or "+inf"), the cursor's score and lead id ("" for
// none), count.
var leadsPageScript = redis.NewScript(`
local key, n = KEYS[1], tonumber(ARGV[5])
if ARGV[3] == '' then
  return redis.call('ZRANGEBYSCORE', key, ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', 0, n)
end
local s = redis.call('ZSCORE', key, ARGV[4])
if s and tonumber(s) == tonumber(ARGV[3]) then
  local r = redis.call('ZRANK', key, ARGV[4])
  return redis.call('ZRANGE', key, r + 1, r + n, 'WITHSCORES')
end
local skip = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, ARGV[3], ARGV[3])) do
  if m <= ARGV[4] then skip = skip + 1 end
end
return redis.call('ZRANGEBYSCORE', key, ARGV[3], ARGV[2], 'WITHSCORES', 'LIMIT', skip, n)
`)

// Leads pages through the last-seen set (lg:{p}:leads) and reads each
// page's lead hashes with their current score in one pipelined round
// trip. A lead whose score changed since the page was cut (seen again) is
// left for its new place; one whose hash is gone (swept) is left out. A
// page examines at most its limit of leads, matching the source filter or
// not. The cursor is the last member handed out: "<score ms>:<lead id>".
func (s *Store) Leads(ctx context.Context, q store.LeadQuery) ([]store.LeadRecord, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLeadPage
	}
	lo, hi, curScore, curID, err := leadsRange(q)
	if err != nil {
		return nil, "", err
	}
	raw, err := leadsPageScript.Run(ctx, s.rdb, []string{s.keys.leads}, lo, hi, curScore, curID, limit).StringSlice()
	if err != nil {
		return nil, "", unavailable("leads", err)
	}
	page := make([]leadMember, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		f, err := strconv.ParseFloat(raw[i+1], 64)
		if err != nil {
			return nil, "", fmt.Errorf("leads: score %q of %s", raw[i+1], raw[i])
		}
		ms := int64(f)
		if !q.Until.IsZero() && ms >= q.Until.UnixMilli() {
			break // a page by rank runs past the window
		}
		page = append(page, leadMember{raw[i], ms})
	}
	next := ""
	if len(page) == limit {
		last := page[len(page)-1]
		next = strconv.FormatInt(last.ms, 10) + ":" + last.id
	}
	if len(page) == 0 {
		return nil, next, nil
	}
	out, err := s.leadRecords(ctx, page, q.Source)
	return out, next, err
}

// leadMember is one entry of the last-seen set: a lead and when it was
// last seen (ms).
type leadMember struct {
	id string
	ms int64
}

// leadsRange is the score range of q's window over the last-seen set and
// where its cursor resumes ("", "" at the start).
func leadsRange(q store.LeadQuery) (lo, hi, curScore, curID string, err error) {
	lo, hi = "-inf", "+inf"
	var since int64
	if !q.Since.IsZero() {
		since = q.Since.UnixMilli()
		lo = strconv.FormatInt(since, 10)
	}
	if !q.Until.IsZero() {
		hi = "(" + strconv.FormatInt(q.Until.UnixMilli(), 10)
	}
	if q.Cursor != "" {
		sc, id, ok := strings.Cut(q.Cursor, ":")
		ms, err := strconv.ParseInt(sc, 10, 64)
		if !ok || err != nil || id == "" {
			return "", "", "", "", store.ErrBadCursor
		}
		// A cursor before the window (another query's) starts at Since.
		if q.Since.IsZero() || ms >= since {
			curScore, curID = sc, id
		}
	}
	return lo, hi, curScore, curID, nil
}

// leadRecords reads the page's leads, skipping one gone or seen again
// since the page was read (it comes later, at its new last-seen time) and,
// with source set, one no payload of that source touched.
func (s *Store) leadRecords(ctx context.Context, page []leadMember, source string) ([]store.LeadRecord, error) {
	ids := make([]string, len(page))
	for i, m := range page {
		ids[i] = m.id
	}
	hashes, err := s.leadHashes(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("leads: %w", err)
	}
	var out []store.LeadRecord
	for i, m := range page {
		h := hashes[i].fields
		if h["s"] == "" || !hashes[i].seen || hashes[i].lastSeen != m.ms {
			continue
		}
		if source != "" && h["o:"+source] == "" {
			continue
		}
		r, err := leadFromHash(m.id, h, time.UnixMilli(m.ms).UTC())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// leadFromHash is a lead's record from its hash (lg:{p}:lead:ID) and its
// last-seen score.
func leadFromHash(leadID string, m map[string]string, lastSeen time.Time) (store.LeadRecord, error) {
	r := store.LeadRecord{ID: leadID, LastSeen: lastSeen}
	var err error
	if r.Version, err = strconv.ParseInt(m["v"], 10, 64); err != nil {
		return store.LeadRecord{}, fmt.Errorf("lead %s: version %q", leadID, m["v"])
	}
	if f, err := strconv.ParseInt(m["f"], 10, 64); err == nil {
		r.FirstSeen = time.UnixMilli(f).UTC()
	}
	for f := range m {
		if k, ok := strings.CutPrefix(f, "k:"); ok {
			r.Keys = append(r.Keys, k)
		} else if src, ok := strings.CutPrefix(f, "o:"); ok {
			r.Sources = append(r.Sources, src)
		}
	}
	slices.Sort(r.Sources)
	if err := decodeJSON(m["s"], &r.Lead); err != nil {
		return store.LeadRecord{}, fmt.Errorf("decode lead %s: %w", leadID, err)
	}
	return r, nil
}
