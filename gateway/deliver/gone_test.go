package deliver

import (
	"testing"
	"time"

	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
)

// TestFingerprintIsStable pins a 410 mark's fingerprint to the value the
// gateway stored before deliver.Destination embedded policy.Delivery: a
// fingerprint that changes with the code re-enables, on upgrade, every
// destination a 410 disabled.
func TestFingerprintIsStable(t *testing.T) {
	d := &Destination{Name: "crm", URL: "https://crm.example/hook", Method: "POST", ContentType: "application/json",
		Format: "canonical", Headers: []Header{{Key: "X-Api-Key", Value: "k"}}, Events: []string{"lead.created"},
		Sources: []string{"website"}, Filters: []FieldFilter{{Path: "lead.status", Equals: []string{"new"}}},
		LandingPages: []string{"/a"}, Enabled: true,
		Delivery: policy.Delivery{
			Timeout:     15 * time.Second,
			RateLimit:   ratelimit.Limit{Requests: 25, Per: 5 * time.Second},
			Retry:       policy.Retry{MaxAttempts: 8, Schedule: []time.Duration{5 * time.Second, 5 * time.Minute}},
			Concurrency: 16, Ordered: true,
		},
		Secrets: []string{"whsec_c2VjcmV0"}, NotifyOnFailure: "https://n.example", AllowPrivate: true,
		Ledsak: LedsakDefaults{Client: "c", Branch: "b"}}
	// Computed by 64f83bc's fingerprint (json.Marshal of the flat Destination).
	const stored = "9e0f690e406fff0b70f1a5abcff1e290"
	if got := fingerprint(d); got != stored {
		t.Fatalf("fingerprint = %s, want %s (the hash marks were stored with)", got, stored)
	}
	changed := *d
	changed.Retry.MaxAttempts = 9
	if fingerprint(&changed) == stored {
		t.Fatal("a changed retry policy kept the fingerprint: the 410 mark would outlive the config change")
	}
}
