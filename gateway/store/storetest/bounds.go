package storetest

import (
	"fmt"
	"testing"
	"time"

	"leadgate/gateway/lead"
)

// testLeadFieldsBounded: the stored lead's fields stay within lead.MaxFields
// across payloads; Ingest reports the keys left out (none for a duplicate),
// and known keys keep being updated once the lead is full.
func testLeadFieldsBounded(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	id := "email:bound@b.c"
	fields := func(prefix string, n int, v string) map[string]any {
		out := make(map[string]any, n)
		for i := 0; i < n; i++ {
			out[fmt.Sprintf("%s%03d", prefix, i)] = v
		}
		return out
	}
	steps := []struct {
		name        string
		fields      map[string]any
		dedupe      string
		wantDropped int
		wantEvents  bool
	}{
		{"150 keys fit", fields("a", 150, "1"), "", 0, true},
		{"100 more: 50 fit", fields("b", 100, "1"), "second", 50, true},
		{"the same payload again is a duplicate", fields("b", 100, "1"), "second", 0, false},
		{"a full lead updates a known key, drops a new one", map[string]any{"a000": "2", "c000": "1"}, "", 1, true},
	}
	for i, st := range steps {
		req := request(at.Add(time.Duration(i)*time.Second), lead.Lead{Email: "bound@b.c", Fields: st.fields}, id)
		req.DedupeKey, req.DedupeTTL = st.dedupe, 10*time.Minute
		res := ingest(t, s, req)
		if res.FieldsDropped != st.wantDropped {
			t.Fatalf("%s: FieldsDropped = %d, want %d", st.name, res.FieldsDropped, st.wantDropped)
		}
		if !st.wantEvents {
			continue
		}
		if len(res.Events) == 0 {
			t.Fatalf("%s: no events", st.name)
		}
		l := res.Events[0].Lead
		if n := len(l.Fields); n > lead.MaxFields {
			t.Fatalf("%s: the lead has %d fields, want at most %d", st.name, n, lead.MaxFields)
		}
		if i == len(steps)-1 {
			if fmt.Sprint(l.Fields["a000"]) != "2" {
				t.Fatalf("%s: a000 = %v, want the update kept", st.name, l.Fields["a000"])
			}
			if _, ok := l.Fields["c000"]; ok {
				t.Fatalf("%s: a new key joined a full lead", st.name)
			}
		}
	}
}
