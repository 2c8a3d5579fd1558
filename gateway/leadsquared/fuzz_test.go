package leadsquared

import (
	"os"
	"testing"
)

// FuzzParseBody: no body panics the parser, and every body it accepts
// becomes a destination that deliver accepts too.
func FuzzParseBody(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed-create.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"URL":"https://a.example/h","WebhookEvent":1,"IsSpecificLandingPage":"true","LandingPageUrls":"[\"x\"]"}`))
	f.Add([]byte(`{"URL":"http://b.example","WebhookEvent":"26","CustomHeaders":"[{\"Key\":\"k\",\"Value\":\"v\"}]","WebhookProperties":"{\"a\":1}"}`))
	f.Add([]byte(`{"URL":"http://[::1]/","WebhookEvent":3.5,"CustomHeaders":["{\"Key\":\"k\"}"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parseBody(body, false)
		if err != nil {
			return
		}
		s.ID = "fuzz"
		if err := s.destination(Defaults{}.withZeroesFilled(), false).Validate(); err != nil {
			t.Fatalf("accepted %q but deliver refuses it: %v", body, err)
		}
	})
}

// BenchmarkParseBody measures decoding and validating the seed's body.
func BenchmarkParseBody(b *testing.B) {
	seed, err := os.ReadFile("testdata/seed-create.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseBody(seed, false); err != nil {
			b.Fatal(err)
		}
	}
}
