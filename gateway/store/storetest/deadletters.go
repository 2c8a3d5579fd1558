package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// killAll dead-letters n deliveries of dest, one event each, with DeadAt
// increasing from at, and returns their ids in that order.
func killAll(t *testing.T, s store.Store, dest string, n int, at time.Time) []string {
	t.Helper()
	for i := range n {
		email := fmt.Sprintf("%s%d@dead.c", dest, i)
		req := request(at, lead.Lead{Email: email}, "email:"+email)
		req.Route = routeTo(dest)
		ingest(t, s, req)
	}
	ds := lease(t, s, dest, at, n, time.Minute)
	if len(ds) != n {
		t.Fatalf("leased %d, want %d", len(ds), n)
	}
	ids := make([]string, n)
	for i, d := range ds {
		ids[i] = d.ID
		settle(t, s, store.Outcome{Delivery: d, Attempt: attemptAt(at.Add(time.Duration(i)*time.Second), 410, "HTTP 410"), State: store.Dead})
	}
	return ids
}

func testDeadLettersPaging(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	aIDs := killAll(t, s, "a", 5, at)
	bIDs := killAll(t, s, "b", 2, at.Add(time.Minute))
	tests := []struct {
		dest  string
		limit int
		want  []string
	}{
		{"", 2, append(slices.Clone(aIDs), bIDs...)},
		{"", 100, append(slices.Clone(aIDs), bIDs...)},
		{"a", 2, aIDs},
		{"a", 5, aIDs},
		{"b", 1, bIDs},
		{"none", 3, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.dest, tt.limit), func(t *testing.T) {
			var got []string
			cursor := ""
			for page := 0; ; page++ {
				items, next, err := s.DeadLetters(context.Background(), tt.dest, cursor, tt.limit)
				if err != nil {
					t.Fatalf("dead letters: %v", err)
				}
				if len(items) > tt.limit {
					t.Fatalf("page of %d, limit %d", len(items), tt.limit)
				}
				for _, it := range items {
					got = append(got, it.ID)
					if tt.dest != "" && it.Destination != tt.dest {
						t.Fatalf("item of %q in %q", it.Destination, tt.dest)
					}
				}
				if next == "" {
					break
				}
				if page > 20 {
					t.Fatalf("cursor never ended")
				}
				cursor = next
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	// A cursor no page handed out is the caller's mistake, not an outage.
	for _, bad := range []string{"x", "not a cursor", "-", "12-", "!!!!!!!!!!!!"} {
		if _, _, err := s.DeadLetters(context.Background(), "a", bad, 2); !errors.Is(err, store.ErrBadCursor) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("dead letters with cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}

func testReplay(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ctx := context.Background()
	if err := s.Replay(ctx, "unknown", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("replay unknown: %v, want ErrNotFound", err)
	}
	ids := killAll(t, s, "crm", 2, at)
	dead := deadLetters(t, s, "crm")
	now := at.Add(time.Hour)
	if err := s.Replay(ctx, ids[0], now); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if err := s.Replay(ctx, ids[0], now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second replay: %v, want ErrNotFound", err)
	}
	if left := deadLetters(t, s, "crm"); len(left) != 1 || left[0].ID != ids[1] {
		t.Fatalf("dead letters after replay = %+v, want only %s", left, ids[1])
	}
	if ds := lease(t, s, "crm", now.Add(-time.Second), 10, time.Minute); len(ds) != 0 {
		t.Fatalf("replayed delivery due before now")
	}
	ds := lease(t, s, "crm", now, 10, time.Minute)
	if len(ds) != 1 || ds[0].ID != ids[0] || ds[0].EventID != dead[0].EventID || ds[0].Event.ID != dead[0].EventID || ds[0].Attempts != 0 {
		t.Fatalf("after replay leased %+v, want %s with its event id and 0 attempts", ds, ids[0])
	}
	rec, err := s.Event(ctx, dead[0].EventID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != "pending" || len(rec.Deliveries[0].Attempts) != 1 {
		t.Fatalf("deliveries after replay = %+v, want pending with its history", rec.Deliveries)
	}
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(now, 410, "HTTP 410"), State: store.Dead})
	if dls := deadLetters(t, s, "crm"); len(dls) != 2 || dls[1].ID != ids[0] || dls[1].Attempts != 2 {
		t.Fatalf("dead letters = %+v, want %s dead again last with 2 attempts", dls, ids[0])
	}
}

func testReplayAll(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ctx := context.Background()
	killAll(t, s, "a", 3, at)
	killAll(t, s, "b", 2, at)
	now := at.Add(time.Hour)
	n, err := s.ReplayAll(ctx, "a", now)
	if err != nil || n != 3 {
		t.Fatalf("replay all = %d, %v; want 3", n, err)
	}
	if n, err := s.ReplayAll(ctx, "a", now); err != nil || n != 0 {
		t.Fatalf("second replay all = %d, %v; want 0", n, err)
	}
	if left := deadLetters(t, s, ""); len(left) != 2 || left[0].Destination != "b" {
		t.Fatalf("dead letters = %+v, want b's two", left)
	}
	if ds := lease(t, s, "a", now, 10, time.Minute); len(ds) != 3 {
		t.Fatalf("leased %d of a, want 3", len(ds))
	}
	if ds := lease(t, s, "b", now, 10, time.Minute); len(ds) != 0 {
		t.Fatalf("leased %d of b, want 0", len(ds))
	}
}
