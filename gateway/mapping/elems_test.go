package mapping

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	m.eachObject(s, arr, 0, func(i int, e gjson.Result) {
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

// objWalkKeys lists an object's keys and values as objWalk reads them.
func objWalkKeys(obj string) []string {
	var out []string
	w := objWalk{js: obj, i: 1}
	for {
		k, raw, esc, ok := w.next()
		if !ok {
			return out
		}
		var r gjson.Result
		setValue(&r, raw, esc)
		out = append(out, fmt.Sprintf("%q {%v %q %q %v}", k, r.Type, r.Raw, r.Str, r.Num))
	}
}

func gjsonKeys(obj string) []string {
	var out []string
	gjson.Parse(obj).ForEach(func(k, r gjson.Result) bool {
		out = append(out, fmt.Sprintf("%q {%v %q %q %v}", k.Str, r.Type, r.Raw, r.Str, r.Num))
		return true
	})
	return out
}

// FuzzObjWalk: on any valid JSON object, the walk that indexes the body
// reads the keys and values gjson's ForEach reads.
func FuzzObjWalk(f *testing.F) {
	f.Add(`{}`)
	f.Add(`{"user":"u1","a":{"b":[1,{"c":"}"}]},"n":-1.5e2,"t":true,"f":false,"z":null,"e\"k":"v\\\"","u":"\u00e9"}`)
	f.Add(" {\n\"k\" : [ ] , \"k\":\"again\"}")
	for _, arr := range elemArrays {
		gjson.Parse(arr).ForEach(func(_, e gjson.Result) bool {
			if e.IsObject() {
				f.Add(e.Raw)
			}
			return true
		})
	}
	f.Fuzz(func(t *testing.T, obj string) {
		r := gjson.Parse(obj)
		if !gjson.Valid(obj) || !r.IsObject() {
			return
		}
		got, want := objWalkKeys(r.Raw), gjsonKeys(obj)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("objWalk:\n%q\ngjson:\n%q", got, want)
		}
	})
}

// FuzzFusedLeadsie: mapping Leadsie's assets during the walk of the body
// (Mapping.fused) gives what walking the array afterwards gives, errors
// and their order included. Seeded with every Leadsie fixture.
func FuzzFusedLeadsie(f *testing.F) {
	src, err := os.ReadFile(filepath.Join(mappingsDir, "leadsie.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	fused, err := Compile("leadsie", "leadsie.yaml", src)
	if err != nil {
		f.Fatal(err)
	}
	apart, _ := Compile("leadsie", "leadsie.yaml", src)
	apart.fused = false
	if !fused.fused {
		f.Fatal("the shipped leadsie mapping is not fused")
	}
	fixtures, _ := filepath.Glob(filepath.Join(mappingsDir, "testdata", "leadsie", "*.json"))
	for _, p := range fixtures {
		if strings.HasSuffix(p, ".golden.json") || strings.HasSuffix(p, ".meta.json") {
			continue
		}
		body, _ := os.ReadFile(p)
		f.Add(body)
	}
	f.Add([]byte(`{"connectionAssets":[{"type":"Page","isSuccess":"maybe"},{"type":"Page","isSuccess":7}],"connectionAssets":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		parsed, err := ParseBody("application/json", body)
		if err != nil {
			return
		}
		r1, err1 := fused.Map(Input{Body: parsed})
		r2, err2 := apart.Map(Input{Body: parsed})
		j1, _ := json.Marshal(r1)
		j2, _ := json.Marshal(r2)
		if string(j1) != string(j2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("fused: %s %v\napart: %s %v", j1, err1, j2, err2)
		}
	})
}
