package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
)

// TestBatchKeepsPeopleApart: two people sharing a phone whose payloads
// share one writeScript run are two leads, each with lead.created, as
// they would be one after the other; a third payload in the run with the
// first one's email joins it.
func TestBatchKeepsPeopleApart(t *testing.T) {
	srv := redistest.Start(t)
	s := New(redis.NewClient(&redis.Options{Addr: srv.Addr()}), Options{Prefix: "apart"})
	defer s.Close()
	at := time.Now().Truncate(time.Millisecond)
	req := func(email string) store.IngestRequest {
		return store.IngestRequest{
			Source: "website", Identity: []string{"email:" + email, "phone:+1555"},
			Lead:  lead.Lead{Email: email, Phone: "+1555"},
			Emits: []string{lead.LeadCreated, lead.LeadUpdated}, ReceivedAt: at,
		}
	}
	out := inOneBatch(t, s, []store.IngestRequest{req("a@x.com"), req("b@x.com"), req("a@x.com")})
	if out[0].LeadID == out[1].LeadID || out[0].LeadID != out[2].LeadID {
		t.Fatalf("lead ids = %s %s %s, want a, b, a", out[0].LeadID, out[1].LeadID, out[2].LeadID)
	}
	if len(out[1].Events) != 1 || out[1].Events[0].Event != lead.LeadCreated || out[1].Events[0].LeadVersion != 1 {
		t.Fatalf("second person's events = %+v, want lead.created at version 1", out[1].Events)
	}
}
