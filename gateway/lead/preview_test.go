package lead

import (
	"testing"
	"time"
)

func TestPreviewNewLead(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	next := Lead{Email: " JohnDoe@Example.com ", FirstName: "John", LastName: "Doe"}
	got := Preview(next, []string{FormSubmitted, LeadCreated, LeadUpdated}, "website", now)
	if len(got) != 2 {
		t.Fatalf("events = %d, want 2 (form.submitted, lead.created): %+v", len(got), got)
	}
	for i, want := range []string{FormSubmitted, LeadCreated} {
		ev := got[i]
		if ev.Event != want || ev.Source != "website" || ev.LeadID != PreviewLeadID || ev.ID != PreviewEventID || !ev.ReceivedAt.Equal(now) {
			t.Errorf("event %d = %+v, want %s from website with preview ids at %v", i, ev, want, now)
		}
		if ev.Lead.Email != "johndoe@example.com" || ev.Lead.FullName != "John Doe" {
			t.Errorf("event %d lead = %+v, want normalized email and full name", i, ev.Lead)
		}
	}
}
