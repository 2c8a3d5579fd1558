package mapping

import (
	"fmt"
	"testing"

	"github.com/tidwall/gjson"
)

// gjsonElems is what eachObject must match: gjson's ForEach over the array
// and over each object element, the first of repeated keys winning.
func gjsonElems(m *Mapping, arr string) []string {
	var out []string
	elem := make([]gjson.Result, len(m.elemSlot))
	n := 0
	gjson.Parse(arr).ForEach(func(_, e gjson.Result) bool {
		if e.IsObject() {
			clear(elem)
			e.ForEach(func(k, v gjson.Result) bool {
				if slot, ok := m.elemTab.get(k.Str); ok && elem[slot].Raw == "" {
					elem[slot] = v
				}
				return true
			})
			out = append(out, describeElem(n, e, elem))
		}
		n++
		return true
	})
	return out
}

func describeElem(i int, e gjson.Result, elem []gjson.Result) string {
	s := fmt.Sprintf("%d %q:", i, e.Raw)
	for _, r := range elem {
		s += fmt.Sprintf(" {%v %q %q %v}", r.Type, r.Raw, r.Str, r.Num)
	}
	return s
}

func eachObjectElems(m *Mapping, arr string) []string {
	s := m.scratch([]byte(arr))
	defer s.release()
	var out []string
	m.eachObject(s, gjson.Parse(arr), func(i int, e gjson.Result) {
		elem := make([]gjson.Result, len(s.elem))
		for k := range elem {
			if s.elemSet[k] {
				elem[k] = s.elem[k]
			}
		}
		out = append(out, describeElem(i, e, elem))
	})
	return out
}

var elemArrays = []string{
	`[]`,
	` [ ] `,
	`[{"type":"Page","id":"1","isSuccess":true}]`,
	`[1, "x", null, [{"type":"nested"}], {"type" : "Ad Account" , "name":"A \"quoted\" \u00e9", "id": 12.5e3, "isSuccess": false, "message": null}]`,
	`[{"type":"a","type":"b","id":{"x":[1,"]}"]},"time":["t1","t2"]},{}, {"ty\u0070e":"escaped key","name":"back\\slash"}]`,
	"[\n\t{\"message\": \"\", \"time\": \"2026-11-22T09:59:00.000Z\", \"other\": {\"type\": \"inner\"}}\n]",
	`[{"name":"\\"},{"name":"x\\\"y"}]`,
	`[{"id":-0},{"id":1e400},{"id":-12}]`,
}

func TestEachObjectMatchesGjson(t *testing.T) {
	m, _ := loadShipped(t).Get("leadsie")
	for _, arr := range elemArrays {
		t.Run(arr, func(t *testing.T) {
			if !gjson.Valid(arr) {
				t.Fatalf("test array is not valid JSON")
			}
			got, want := eachObjectElems(m, arr), gjsonElems(m, arr)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("eachObject:\n%q\ngjson:\n%q", got, want)
			}
		})
	}
}

// FuzzEachObject: on any valid JSON array, the one-pass element walk reads
// what gjson reads.
func FuzzEachObject(f *testing.F) {
	m, _ := loadShipped(f).Get("leadsie")
	for _, arr := range elemArrays {
		f.Add(arr)
	}
	f.Fuzz(func(t *testing.T, arr string) {
		if !gjson.Valid(arr) || !gjson.Parse(arr).IsArray() {
			// Still must not panic.
			eachObjectElems(m, arr)
			return
		}
		got, want := eachObjectElems(m, arr), gjsonElems(m, arr)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("eachObject:\n%q\ngjson:\n%q", got, want)
		}
	})
}
