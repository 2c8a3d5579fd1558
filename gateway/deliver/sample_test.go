package deliver

import (
	"time"

	"leadgate/gateway/lead"
)

// sampleEvent is the contract's canonical example, with one Leadsie asset
// and mapped extras of every value type.
func sampleEvent() *lead.Event {
	return &lead.Event{
		ID: "evt_1", Event: lead.LeadUpdated, Source: "website", LeadID: "lead_1", LeadVersion: 3,
		ReceivedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Changed:    []string{"score"},
		Lead: lead.Lead{
			Email: "johndoe@example.com", Phone: "+14155550100",
			FirstName: "John", LastName: "Doe", FullName: "John Doe",
			Notes: "likes <b> & \"quotes\"\nsecond line", Score: 42,
			Client: "example_client", Branch: "Main Branch",
			Assets: []lead.Asset{{Type: "Page", Name: "Acme Page", ID: "123", OK: false}},
			Fields: map[string]any{"budget": "5000", "seats": int64(12), "ratio": 0.25, "vip": true},
		},
	}
}
