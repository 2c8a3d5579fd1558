package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// subscriptionSecret signs subscription deliveries (gateway.yaml's
// subscriptions.secret).
const subscriptionSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// verifySignature checks a Standard Webhooks signature as a receiver does:
// one of the webhook-signature entries is v1 and the base64 HMAC-SHA256,
// under the secret's key, of "webhook-id.webhook-timestamp.body".
func verifySignature(secret string, h http.Header, body string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: id %q timestamp %q signature %q", id, ts, sigs)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + body))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("webhook-signature %q does not verify", sigs)
}

// captured is one request a sink received.
type captured struct {
	header http.Header
	body   string
}

// TestLeadSquaredSubscriptionEndToEnd sends the LeadSquared seed's Create
// body as-is (its URL pointed at a sink) to a running gateway: a new form
// lead then reaches the sink with both custom headers and the chosen content
// type; the subscription survives a restart; after Delete nothing more is
// delivered to it.
func TestLeadSquaredSubscriptionEndToEnd(t *testing.T) {
	sink, received := recorder(t)

	dir := t.TempDir()
	listen := freeAddr(t)
	// No gateway.yaml destination: the subscription is the only one. The
	// sink is on loopback, which subscriptions may reach only when the
	// gateway allows private destinations.
	config := writeConfig(t, dir, listen, "http://127.0.0.1:9/unused", "subscriptions: {secret: "+subscriptionSecret+"}\n")
	b, _ := os.ReadFile(config)
	cfg := strings.Replace(string(b), "shutdown_grace: 2s}", "shutdown_grace: 2s, allow_private_destinations: true}", 1)
	cfg = strings.Replace(cfg, "destinations:\n  - name: sink", "destinations:\n  - name: off\n    enabled: false", 1)
	os.WriteFile(config, []byte(cfg), 0o644)
	g := start(t, config, listen)

	seed, err := os.ReadFile("leadsquared/testdata/seed-create.json")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(seed), "https://requestb.in/19n3y3u1", sink.URL+"/lsq", 1)
	keys := "?accessKey=test-access&secretKey=test-secret"
	code, answer := g.post("/v2/Webhook.svc/Create"+keys, body)
	var created struct {
		Status  string
		Message struct{ Id string }
	}
	json.Unmarshal([]byte(answer), &created)
	if code != 200 || created.Status != "Success" || created.Message.Id == "" {
		t.Fatalf("Create = %d %s, want Success with an Id", code, answer)
	}

	// The seed subscribes to event 1, landing page submissions: a form post.
	if code, body := g.post("/hooks/website", websitePayload(1, "lsq")); code != 200 {
		t.Fatalf("form post = %d %s", code, body)
	}
	waitFor(t, 10*time.Second, func() bool { return len(received()) == 1 }, func() string { return "the subscription got nothing; logs:\n" + g.logs.String() })
	first := received()[0]
	if keys := first.header.Values("X-Api-Key"); len(keys) != 2 || keys[0] != "j5FtwJk44e6fJHzbKc3fa82pJQQoBa7MebQHXAP" || keys[1] != "j5FtwJk44e6fJHzbKc3fa82pJQQoBa7MebQHXAP6" {
		t.Errorf("x-api-key headers = %q, want both of the seed's, in order", keys)
	}
	if ct := first.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var ev struct{ Event, Source string }
	if json.Unmarshal([]byte(first.body), &ev); ev.Event != "form.submitted" || ev.Source != "website" {
		t.Errorf("delivered %s, want the canonical form.submitted from website", first.body)
	}
	if first.header.Get("webhook-id") == "" {
		t.Errorf("no webhook-id header")
	}
	if err := verifySignature(subscriptionSecret, first.header, first.body); err != nil {
		t.Errorf("subscription delivery signature: %v", err)
	}

	// It survives a restart.
	g.kill()
	g = start(t, config, listen)
	resp, err := http.Get(g.base + "/v2/Webhook.svc/Retrieve" + keys)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(list), created.Message.Id) {
		t.Fatalf("after a restart Retrieve = %s, want the subscription %s", list, created.Message.Id)
	}

	if code, answer := g.post("/v2/Webhook.svc/Delete"+keys+"&id="+created.Message.Id, ""); code != 200 {
		t.Fatalf("Delete = %d %s", code, answer)
	}
	if code, body := g.post("/hooks/website", websitePayload(2, "lsq")); code != 200 {
		t.Fatalf("form post after Delete = %d %s", code, body)
	}
	// A delivery to a live destination would be seen within this time; the
	// deleted subscription must see nothing of the second lead. The first
	// event may arrive again: the kill above can land between the sink's
	// answer and the gateway recording it, and at-least-once redelivers it
	// with the same webhook-id.
	time.Sleep(2 * time.Second)
	firstID := first.header.Get("webhook-id")
	for i, c := range received() {
		if id := c.header.Get("webhook-id"); id != firstID {
			t.Errorf("delivery %d after Delete: webhook-id %s (%s), want only redeliveries of %s", i, id, c.body, firstID)
		}
		if strings.Contains(c.body, "lead2.lsq@") {
			t.Errorf("delivery %d carries the lead posted after Delete: %s", i, c.body)
		}
	}
}
