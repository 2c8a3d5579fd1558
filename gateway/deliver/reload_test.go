package deliver

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"leadgate/gateway/store"
)

// TestSetNotifyURLTakesEffect: a reload's notify_url gets the next dead
// letter's notice; the old one hears nothing.
func TestSetNotifyURLTakesEffect(t *testing.T) {
	s := newSink(t, 400)
	old, cur := newSink(t, 200), newSink(t, 200)
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true}
	h := start(t, []Destination{d}, func(o *Options) { o.NotifyURL = old.URL })
	h.dp.SetNotifyURL(cur.URL)
	h.enqueue("crm", "evt_reloaded_notice")
	if o := h.st.next(t); o.State != store.Dead {
		t.Fatalf("outcome %s, want dead", o.State)
	}
	select {
	case <-cur.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no notice posted to the new notify_url")
	}
	if n := len(old.all()); n != 0 {
		t.Fatalf("the old notify_url got %d notices", n)
	}
}

// TestRemovedDestinationLosesItsSeries: a destination that leaves the set
// (a deleted subscription) no longer has delivery series.
func TestRemovedDestinationLosesItsSeries(t *testing.T) {
	h := start(t, []Destination{
		{Name: "crm", URL: "http://127.0.0.1:9/", Enabled: true},
		{Name: "lsq-gone", URL: "http://127.0.0.1:9/", Enabled: true},
	}, nil)
	if n := testutil.CollectAndCount(h.m.Deliveries); n != 6 {
		t.Fatalf("%d delivery series with two destinations, want 6", n)
	}
	h.dp.SetDestinations([]Destination{{Name: "crm", URL: "http://127.0.0.1:9/", Enabled: true}})
	if n := testutil.CollectAndCount(h.m.Deliveries); n != 3 {
		t.Fatalf("%d delivery series after a removal, want 3 (crm's)", n)
	}
	if n := testutil.CollectAndCount(h.m.DeliveryDuration); n != 1 {
		t.Fatalf("%d duration series after a removal, want 1", n)
	}
	if n := testutil.CollectAndCount(h.m.DestinationEnabled); n != 1 {
		t.Fatalf("%d enabled series after a removal, want 1", n)
	}
}

// TestRemovedDestinationInFlightDeliveryKeepsItsSeriesGone: a delivery that
// was on its way when a reload removed its destination finishes and is
// settled, but counting it does not bring the removed series back.
func TestRemovedDestinationInFlightDeliveryKeepsItsSeriesGone(t *testing.T) {
	release := make(chan struct{})
	hung := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung <- struct{}{}
		<-release
	}))
	defer slow.Close()
	crm := Destination{Name: "crm", URL: "http://127.0.0.1:9/", Enabled: true}
	h := start(t, []Destination{crm, {Name: "lsq-gone", URL: slow.URL, Enabled: true, AllowPrivate: true}}, nil)
	h.enqueue("lsq-gone", "evt_in_flight")
	select {
	case <-hung:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery never reached the destination")
	}
	h.dp.SetDestinations([]Destination{crm})
	close(release)
	if o := h.st.next(t); o.State != store.Delivered || o.Delivery.Destination != "lsq-gone" {
		t.Fatalf("outcome %s for %s, want the in-flight delivery delivered", o.State, o.Delivery.Destination)
	}
	if n := testutil.CollectAndCount(h.m.Deliveries); n != 3 {
		t.Fatalf("%d delivery series after the in-flight delivery ended, want 3 (crm's)", n)
	}
	if n := testutil.CollectAndCount(h.m.DeliveryDuration); n != 1 {
		t.Fatalf("%d duration series after the in-flight delivery ended, want 1", n)
	}
}
