package leadsquared

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// TestSetSettingsAppliesAtOnce: a config reload's new keys, private-address
// rule and defaults take effect on the next call, and the subscriptions'
// destinations are rebuilt with them.
func TestSetSettingsAppliesAtOnce(t *testing.T) {
	rec := make(recorder, 8)
	h := newHarness(t, func(o *Options) { o.OnChange = rec.fn })
	id := h.create(t, `{"URL":"https://a.example.com/h","WebhookEvent":3}`)
	if d := rec.next(t); len(d) != 1 || d[0].AllowPrivate || len(d[0].Secrets) != 0 {
		t.Fatalf("destinations before = %+v", d)
	}
	private := `{"URL":"http://127.0.0.1:9000/x","WebhookEvent":3}`
	if code, out, _ := h.call(t, "POST", "/v2/Webhook.svc/Create?"+keys, private); code != 400 {
		t.Fatalf("private URL before the reload: %d %v, want 400", code, out)
	}

	pol := policy.Subscription()
	pol.Timeout, pol.RateLimit = 3*time.Second, ratelimit.Limit{Requests: 2, Per: time.Second}
	d := Defaults{Delivery: pol, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	h.api.SetSettings(Settings{AccessKey: "AK-new", SecretKey: "SK-new", AllowPrivate: true, Defaults: d})
	got := rec.next(t)
	if len(got) != 1 || got[0].Name != "lsq-"+id || !got[0].AllowPrivate || got[0].Timeout != d.Delivery.Timeout ||
		got[0].RateLimit != d.Delivery.RateLimit || !reflect.DeepEqual(got[0].Secrets, d.Secrets) {
		t.Fatalf("destinations after SetSettings = %+v, want AllowPrivate and the new Defaults", got)
	}

	newKeys := "accessKey=AK-new&secretKey=SK-new"
	if code, out, _ := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?"+keys, ""); code != 401 {
		t.Fatalf("old keys after the reload: %d %v, want 401", code, out)
	}
	if code, _, _ := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?"+newKeys, ""); code != 200 {
		t.Fatalf("new keys after the reload: %d, want 200", code)
	}
	if code, out, _ := h.call(t, "POST", "/v2/Webhook.svc/Create?"+newKeys, private); code != 200 {
		t.Fatalf("private URL after allowing them: %d %v, want 200", code, out)
	}

	// Settings that leave the destinations as they are call nobody.
	rec.next(t) // the Create above
	h.api.SetSettings(Settings{AccessKey: "AK-3", SecretKey: "SK-3", AllowPrivate: true, Defaults: d})
	select {
	case got := <-rec:
		t.Fatalf("a key change alone rebuilt the destinations: %v", names(got))
	default:
	}
}

// deletingStore deletes a subscription right after Update has read it, as
// a Delete on another replica racing the Update would.
type deletingStore struct {
	*fakeStore
	victim string
}

func (d *deletingStore) Subscriptions(ctx context.Context) ([]store.Subscription, error) {
	subs, err := d.fakeStore.Subscriptions(ctx)
	if d.victim != "" {
		d.fakeStore.DeleteSubscription(ctx, d.victim)
	}
	return subs, err
}

func TestUpdateDoesNotResurrect(t *testing.T) {
	st := &deletingStore{fakeStore: newFakeStore()}
	h := newHarnessOn(t, st)
	id := h.create(t, seedBody(t))
	st.victim = id
	code, out, _ := h.call(t, "POST", "/v2/Webhook.svc/Update?id="+id+"&"+keys, `{"URL":"https://b.example.com/h","WebhookEvent":3}`)
	if code != 404 || out["ExceptionType"] != "MXDoesNotExistException" {
		t.Fatalf("Update racing a Delete: %d %v, want 404 MXDoesNotExistException", code, out)
	}
	st.victim = ""
	if n := len(h.destinations(t)); n != 0 {
		t.Fatalf("the deleted subscription came back: %d destinations", n)
	}
}

func TestSubscriptionCap(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for i := range MaxSubscriptions {
		b, _ := json.Marshal(Subscription{URL: "https://a.example.com/h", Method: "POST", ContentType: "application/json", WebhookEvent: 3})
		if err := h.store.PutSubscription(ctx, store.Subscription{ID: fmt.Sprintf("s%03d", i), Body: b}, 0); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := h.call(t, "POST", "/v2/Webhook.svc/Create?"+keys, seedBody(t))
	msg, _ := out["ExceptionMessage"].(string)
	if code != 400 || out["ExceptionType"] != "MXInvalidInputException" || !strings.Contains(msg, fmt.Sprint(MaxSubscriptions)) {
		t.Fatalf("Create over the cap: %d %v, want 400 naming the limit", code, out)
	}
	if n := len(h.destinations(t)); n != MaxSubscriptions {
		t.Fatalf("%d subscriptions after a refused Create, want %d", n, MaxSubscriptions)
	}
	if code, _, _ := h.call(t, "POST", "/v2/Webhook.svc/Delete?id=s000&"+keys, ""); code != 200 {
		t.Fatalf("Delete: %d", code)
	}
	h.create(t, seedBody(t))
}

// queueFor stores one new lead whose lead.created is routed to dest.
func queueFor(t *testing.T, st store.Store, dest, email string) {
	t.Helper()
	_, err := st.Ingest(context.Background(), store.IngestRequest{
		Source: "website", Identity: []string{"email:" + email}, Lead: lead.Lead{Email: email},
		Emits: []string{lead.LeadCreated}, ReceivedAt: time.Now().Add(-time.Second),
		Route: func(*lead.Event) []string { return []string{dest} },
	})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

func due(t *testing.T, st store.Store) (due, dead int64) {
	t.Helper()
	d, err := st.Depth(context.Background())
	if err != nil {
		t.Fatalf("depth: %v", err)
	}
	return d["due"], d["dead"]
}

// TestDeleteDeadLettersQueued: what was queued for a deleted subscription
// moves to its dead letters at once, and what a lagging replica queued
// after the Delete is swept by Watch; a live subscription's queue stays.
func TestDeleteDeadLettersQueued(t *testing.T) {
	h := newHarnessOn(t, openBolt(t, t.TempDir()), func(o *Options) { o.OnChange = func([]deliver.Destination) {} })
	gone := h.create(t, `{"URL":"https://a.example.com/h","WebhookEvent":3}`)
	kept := h.create(t, `{"URL":"https://b.example.com/h","WebhookEvent":3}`)
	queueFor(t, h.store, DestinationName(gone), "a@example.com")
	queueFor(t, h.store, DestinationName(kept), "b@example.com")
	if d, _ := due(t, h.store); d != 2 {
		t.Fatalf("due before = %d, want 2", d)
	}
	if code, _, _ := h.call(t, "POST", "/v2/Webhook.svc/Delete?id="+gone+"&"+keys, ""); code != 200 {
		t.Fatalf("Delete: %d", code)
	}
	if d, dead := due(t, h.store); d != 1 || dead != 1 {
		t.Fatalf("after Delete: due %d dead %d, want 1 and 1", d, dead)
	}
	dls, _, err := h.store.DeadLetters(context.Background(), DestinationName(gone), "", 10)
	if err != nil || len(dls) != 1 || dls[0].LastError != abandonReason {
		t.Fatalf("dead letters = %+v, %v; want one with last_error %q", dls, err, abandonReason)
	}

	// Another replica, not yet told of the Delete, queued one more.
	queueFor(t, h.store, DestinationName(gone), "c@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.api.Watch(ctx, time.Hour); close(done) }()
	waitUntil(t, func() bool { _, dead := due(t, h.store); return dead == 2 })
	cancel()
	<-done
	if d, _ := due(t, h.store); d != 1 {
		t.Fatalf("after the sweep: due %d, want 1 (the live subscription's)", d)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
