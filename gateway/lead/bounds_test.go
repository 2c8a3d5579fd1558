package lead

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

// keys returns n fields named prefix0000…, each holding value.
func keys(prefix string, n int, value any) map[string]any {
	out := make(map[string]any, n)
	for i := 0; i < n; i++ {
		out[fmt.Sprintf("%s%04d", prefix, i)] = value
	}
	return out
}

// fieldsSize is the JSON size of fields as the stores keep it.
func fieldsSize(t *testing.T, fields map[string]any) int {
	t.Helper()
	l := Lead{Fields: fields}
	b, err := AppendLeadJSON(nil, &l, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) == 0 {
		return 2
	}
	return len(b) - len(`{"fields":}`)
}

// TestDecideBoundsFields: merged fields keep at most MaxFields keys and
// MaxFieldsBytes of JSON; the keys the lead already had keep being updated,
// the new keys past the bounds are dropped in sorted order and counted, and
// the lead itself always merges.
func TestDecideBoundsFields(t *testing.T) {
	big := strings.Repeat("x", 1000)
	tests := []struct {
		name        string
		prev        map[string]any // nil: a new lead
		next        map[string]any
		wantDropped int
		check       func(t *testing.T, merged map[string]any)
	}{
		{
			name: "within the bounds nothing is dropped",
			next: keys("k", MaxFields, "v"), wantDropped: 0,
		},
		{
			name: "a new lead keeps the first MaxFields keys in order",
			next: keys("k", MaxFields+50, "v"), wantDropped: 50,
			check: func(t *testing.T, m map[string]any) {
				if _, ok := m["k0199"]; !ok {
					t.Error("k0199 dropped; want the first 200 sorted keys kept")
				}
				if _, ok := m["k0200"]; ok {
					t.Error("k0200 kept; want it dropped")
				}
			},
		},
		{
			name:        "a full lead still updates its keys and drops only new ones",
			prev:        keys("k", MaxFields, "old"),
			next:        map[string]any{"k0000": "new", "a-new-key": "v", "zz": "v"},
			wantDropped: 2,
			check: func(t *testing.T, m map[string]any) {
				if m["k0000"] != "new" {
					t.Errorf("k0000 = %v, want the update kept", m["k0000"])
				}
				if _, ok := m["a-new-key"]; ok {
					t.Error("a new key was added to a full lead")
				}
			},
		},
		{
			name: "bytes: new keys past 64 KiB are dropped",
			next: keys("b", 100, big), wantDropped: 100 - (MaxFieldsBytes-2)/(len(`"b0000":`)+len(big)+3),
		},
		{
			name:        "an update too large for the bytes keeps the old value",
			prev:        keys("b", 60, big),
			next:        map[string]any{"b0000": strings.Repeat("y", 10_000)},
			wantDropped: 1,
			check: func(t *testing.T, m map[string]any) {
				if m["b0000"] != big {
					t.Errorf("b0000 holds %d bytes, want its old value", len(fmt.Sprint(m["b0000"])))
				}
			},
		},
		{
			name: "one value over the bytes alone is dropped", next: map[string]any{"huge": strings.Repeat("z", MaxFieldsBytes), "small": "s"},
			wantDropped: 1,
			check: func(t *testing.T, m map[string]any) {
				if _, ok := m["small"]; !ok {
					t.Error("small dropped with huge")
				}
			},
		},
		{
			name: "escaping counts: HTML-escaped bytes are six each",
			next: keys("e", 30, strings.Repeat("<", 400)), wantDropped: 30 - (MaxFieldsBytes-2)/(len(`"e0000":`)+6*400+3),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev *Lead
			if tt.prev != nil {
				prev = &Lead{Email: "a@b.c", Fields: maps.Clone(tt.prev)}
			}
			next := Lead{Email: "a@b.c", Fields: maps.Clone(tt.next)}
			merged, _ := Decide(prev, next, allEvents)
			if merged.FieldsDropped != tt.wantDropped {
				t.Errorf("FieldsDropped = %d, want %d", merged.FieldsDropped, tt.wantDropped)
			}
			if n := len(merged.Fields); n > MaxFields {
				t.Errorf("merged has %d keys, want at most %d", n, MaxFields)
			}
			if size := fieldsSize(t, merged.Fields); size > MaxFieldsBytes {
				t.Errorf("merged fields are %d bytes of JSON, want at most %d", size, MaxFieldsBytes)
			}
			if merged.Email != "a@b.c" {
				t.Errorf("the lead itself was not merged: email %q", merged.Email)
			}
			if tt.check != nil {
				tt.check(t, merged.Fields)
			}
			// Deterministic: the same merge keeps the same keys.
			again, _ := Decide(prev, Lead{Email: "a@b.c", Fields: maps.Clone(tt.next)}, allEvents)
			if !maps.EqualFunc(again.Fields, merged.Fields, func(a, b any) bool { return a == b }) {
				t.Error("the same merge kept other keys the second time")
			}
		})
	}
}

// TestDecideGrowsToTheBoundAcrossPayloads: payload after payload of new
// keys, a lead fills to MaxFields and then only counts drops.
func TestDecideGrowsToTheBoundAcrossPayloads(t *testing.T) {
	var prev *Lead
	total := 0
	for p := 0; p < 8; p++ {
		merged, _ := Decide(prev, Lead{Email: "a@b.c", Fields: keys(fmt.Sprintf("p%d-", p), 150, "v")}, allEvents)
		total += merged.FieldsDropped
		prev = &merged
	}
	if n := len(prev.Fields); n != MaxFields {
		t.Fatalf("lead has %d keys after 8 payloads, want %d", n, MaxFields)
	}
	if want := 8*150 - MaxFields; total != want {
		t.Fatalf("dropped %d keys in all, want %d", total, want)
	}
}
