package leadsquared

import (
	"context"
	"strconv"
	"testing"
)

// TestWrongKeysSlowedDown: contract §7 through the real route. Ten wrong
// key pairs a minute from one address are 401s; from the eleventh on, every
// call from that address, right keys included, is a 429 with Retry-After in
// LeadSquared's error shape. A right call before does not count.
func TestWrongKeysSlowedDown(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		if code, out, _ := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?"+keys, ""); code != 200 {
			t.Fatalf("right keys, call %d: %d %v", i, code, out)
		}
	}
	for i := range 10 {
		code, out, _ := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?accessKey="+testAccess+"&secretKey=guess"+strconv.Itoa(i), "")
		if code != 401 || out["ExceptionType"] != "MXUnAuthorizedAccessException" {
			t.Fatalf("wrong pair %d: %d %v, want 401", i+1, code, out)
		}
	}
	for _, q := range []string{"accessKey=" + testAccess + "&secretKey=guess11", keys} {
		code, out, hdr := h.call(t, "POST", "/v2/Webhook.svc/Create?"+q, seedBody(t))
		if code != 429 || out["Status"] != "Error" || out["ExceptionType"] != "MXAPIRateLimitExceededException" {
			t.Fatalf("%s after 10 failures: %d %v, want 429 in LeadSquared's shape", q, code, out)
		}
		if s, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After = %q, want 1..60 seconds", hdr.Get("Retry-After"))
		}
	}
	if subs, err := h.api.List(context.Background()); err != nil || len(subs) != 0 {
		t.Fatalf("a throttled Create made %d subscriptions (%v)", len(subs), err)
	}
}
