package mapping

import (
	"path/filepath"
	"testing"
)

// benchSeeds are the seed documents' payloads and variants: one
// BenchmarkMap sub-benchmark each, mapped as the server maps them (no
// trace); the "+trace" ones as `gateway map` does. Target: under 5 µs/op.
var benchSeeds = []struct{ name, source, fixture string }{
	{"website_ledsak", "website", "ledsak_seed.json"},
	{"website_ledsak_full", "website", "ledsak_full.json"},
	{"website_form", "website", "form_flat.json"},
	{"save_lead", "save_lead", "full.json"},
	{"leadsie", "leadsie", "seed_success.json"},
	{"leadsie_partial", "leadsie", "partial_success.json"},
}

func BenchmarkMap(b *testing.B) {
	set := loadShipped(b)
	for _, s := range benchSeeds {
		for _, withTrace := range []bool{false, true} {
			name := s.name
			if withTrace {
				name += "+trace"
			}
			b.Run(name, func(b *testing.B) {
				f := Fixture{Source: s.source, Name: s.fixture, BodyFile: filepath.Join(mappingsDir, "testdata", s.source, s.fixture)}
				ct, body, in := request(b, f)
				parsed, err := ParseBody(ct, body)
				if err != nil {
					b.Fatal(err)
				}
				in.Body, in.NoTrace = parsed, !withTrace
				m, _ := set.Get(s.source)
				if _, err := m.Map(in); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				for b.Loop() {
					if _, err := m.Map(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkParseBody(b *testing.B) {
	form := []byte("name=Jane+Roe&email=JANE%40EXAMPLE.COM&phone=%2B1+415+555+0100&interests=seo&interests=ads&utm_source=google")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBody("application/x-www-form-urlencoded", form); err != nil {
			b.Fatal(err)
		}
	}
}
