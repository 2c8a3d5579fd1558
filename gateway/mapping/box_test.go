package mapping

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"testing"
)

// TestBoxes: a string boxed into the shared array is an ordinary string
// any: it compares, switches, reflects and marshals as one, and keeps its
// value after more are boxed and after a collection.
func TestBoxes(t *testing.T) {
	want := []string{"", "true", "false", "act_1001", "Acme Ads", "x", "y", "z", "a longer value than the rest"}
	b := boxes{size: 2}
	var got []any
	for _, s := range want {
		got = append(got, b.str(s))
	}
	runtime.GC()
	for i, s := range want {
		v := got[i]
		if v != any(s) {
			t.Fatalf("box %d = %#v, want %q", i, v, s)
		}
		if str, ok := v.(string); !ok || str != s {
			t.Fatalf("box %d as string = %q, %v", i, str, ok)
		}
		if r := reflect.ValueOf(v); r.Kind() != reflect.String || r.String() != s {
			t.Fatalf("box %d reflects as %v %q", i, r.Kind(), r.String())
		}
		if j, _ := json.Marshal(v); string(j) != fmt.Sprintf("%q", s) {
			t.Fatalf("box %d marshals as %s", i, j)
		}
	}
	m := map[any]int{}
	for _, v := range got {
		m[v]++
	}
	if m["act_1001"] != 1 || m[""] != 1 {
		t.Fatalf("boxes as map keys: %v", m)
	}
}
