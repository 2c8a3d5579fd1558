package lead

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// encodeStd is what encoding/json writes for v: json.Marshal's bytes when
// escapeHTML is set, an Encoder's with SetEscapeHTML(false) otherwise.
func encodeStd(t *testing.T, v any, escapeHTML bool) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func TestAppendLeadJSONMatchesEncodingJSON(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	odd := "só ✓ \u2028\u2029 <a href='x'>&amp;</a> \"q\" \\ \x7f \xff\xfe end \b\f\n\r\t\x00\x01\x1f 😀 \xed\xa0\x80"
	tests := []struct {
		name string
		l    Lead
	}{
		{"empty", Lead{}},
		{"empty fields and assets", Lead{Fields: map[string]any{}, Assets: []Asset{}}},
		{"every field", Lead{
			Email: "e@x", Phone: "+1", FirstName: "f", LastName: "l", FullName: "f l", Company: "c", Website: "w",
			Position: "po", Twitter: "t", LinkedIn: "li", Notes: "n", Score: -3, Client: "cl", Branch: "b",
			LandingPage: "lp", User: "u", Status: "st",
			Assets: []Asset{{OK: true}, {Type: "Ad Account", Name: "n<", ID: "1", Message: "m\n", Time: "2026", OK: false}},
			Fields: map[string]any{"budget": "5000"},
		}},
		{"odd strings everywhere", Lead{
			Email: odd, Notes: string(all), Company: "a<b>&c", Score: math.MaxInt64,
			Assets: []Asset{{Type: odd, Name: string(all), ID: "<>", Message: odd, Time: "&", OK: true}},
			Fields: map[string]any{odd: odd, string(all): string(all), "k<&>": "v<&>", "": "empty key"},
		}},
		{"field values of every type", Lead{Score: math.MinInt64, Fields: map[string]any{
			"string": "s", "int64": int64(math.MinInt64), "int": -7, "int32": int32(3), "uint64": uint64(math.MaxUint64),
			"true": true, "false": false, "nil": nil,
			"f zero": 0.0, "f neg zero": math.Copysign(0, -1), "f small": 1e-7, "f tiny": -1.5e-300, "f big": 1e21,
			"f just under": 999999999999999999999.0, "f frac": 123456789.125, "f neg": -0.25, "f edge": 1e-6,
			"f max": math.MaxFloat64, "f min": math.SmallestNonzeroFloat64, "f int": 5000.0, "float32": float32(1.1),
			"num": json.Number("1e3"), "num int": json.Number("-12"), "num empty": json.Number(""),
			"nested": map[string]any{"z": 1, "a": []any{"x<", 2.5, nil}}, "list": []string{"a", "&"},
			"raw": json.RawMessage(`{"b":"<"}`),
		}}},
	}
	for _, tt := range tests {
		for _, escapeHTML := range []bool{true, false} {
			t.Run(tt.name, func(t *testing.T) {
				want, err := encodeStd(t, tt.l, escapeHTML)
				if err != nil {
					t.Fatalf("encoding/json: %v", err)
				}
				got, err := AppendLeadJSON([]byte("prefix"), &tt.l, escapeHTML)
				if err != nil {
					t.Fatalf("AppendLeadJSON: %v", err)
				}
				if want = append([]byte("prefix"), want...); !bytes.Equal(got, want) {
					t.Fatalf("escapeHTML %v:\n got %s\nwant %s", escapeHTML, got, want)
				}
			})
		}
	}
}

func TestAppendLeadJSONErrorsLikeEncodingJSON(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), math.Inf(-1), make(chan int), json.Number("not a number")} {
		l := Lead{Fields: map[string]any{"bad": v}}
		if _, err := AppendLeadJSON(nil, &l, true); err == nil {
			t.Fatalf("AppendLeadJSON(%v) = nil error, want encoding/json's error", v)
		}
		if _, err := json.Marshal(l); err == nil {
			t.Fatalf("json.Marshal(%v) = nil error; the test's premise is wrong", v)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	// Every one- and two-byte string, then runes around the escaped ones.
	var inputs []string
	for i := 0; i < 256; i++ {
		inputs = append(inputs, string([]byte{byte(i)}))
		for _, j := range []byte{0, 'a', '"', 0x7f, 0x80, 0xbf, 0xc3, 0xe2, 0xff} {
			inputs = append(inputs, string([]byte{byte(i), j}), string([]byte{j, byte(i)}))
		}
	}
	for _, r := range []rune{0x7f, 0x80, 0xff, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xd7ff, 0xe000, 0x10ffff} {
		inputs = append(inputs, string(r), "a"+string(r)+"b", strings.Repeat(string(r), 3))
	}
	inputs = append(inputs, "", "plain ascii", "\xe2\x80", "\xe2\x80\xa8\xe2", "\xf0\x9f\x98", "\xed\xa0\x80")
	for _, escapeHTML := range []bool{true, false} {
		for _, s := range inputs {
			want, err := encodeStd(t, s, escapeHTML)
			if err != nil {
				t.Fatal(err)
			}
			if got := AppendJSONString(nil, s, escapeHTML); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSONString(%q, %v) = %s, want %s", s, escapeHTML, got, want)
			}
		}
	}
}

func BenchmarkAppendLeadJSON(b *testing.B) {
	l := Lead{Email: "john.1@example.com", FirstName: "John", LastName: "Doe", FullName: "John Doe",
		Client: "bench", Branch: "Main Branch", Fields: map[string]any{"budget": "5000", "source": "website"}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = AppendLeadJSON(buf[:0], &l, true)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(l)
		}
	})
}
