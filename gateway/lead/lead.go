// Package lead holds the canonical lead and event types that every other
// package speaks, and the pure rules that decide which events a change makes.
// It has no dependencies outside the standard library.
package lead

import "time"

// Event names of the canonical schema (contract section 4).
const (
	FormSubmitted     = "form.submitted"
	LeadCreated       = "lead.created"
	LeadUpdated       = "lead.updated"
	LeadScoreChanged  = "lead.score_changed"
	LeadFieldUpdated  = "lead.field_updated"
	ConnectionCreated = "connection.created"
)

// EventNames lists every event name in a stable order, for validation and
// for pre-creating metric label values.
var EventNames = []string{FormSubmitted, LeadCreated, LeadUpdated, LeadScoreChanged, LeadFieldUpdated, ConnectionCreated}

// Asset is one connected account of a Leadsie connection.
type Asset struct {
	Type    string `json:"type,omitempty"`
	Name    string `json:"name,omitempty"`
	ID      string `json:"id,omitempty"`
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	Time    string `json:"time,omitempty"`
}

// Lead is the canonical lead. Empty strings, a zero Score and empty lists are
// left out of its JSON; an Asset's OK is always written.
type Lead struct {
	// HasScore says that the payload carried a score, so that a Score of 0
	// is a value (a score going 42 → 0 is a change) and not an absent one.
	// It is set on the lead a mapping produces; Decide's merged lead, what
	// is stored and delivered, never has it, and it is never in the JSON,
	// where a zero score is left out either way.
	HasScore bool `json:"-"`

	Email       string  `json:"email,omitempty"`
	Phone       string  `json:"phone,omitempty"`
	FirstName   string  `json:"first_name,omitempty"`
	LastName    string  `json:"last_name,omitempty"`
	FullName    string  `json:"full_name,omitempty"`
	Company     string  `json:"company,omitempty"`
	Website     string  `json:"website,omitempty"`
	Position    string  `json:"position,omitempty"`
	Twitter     string  `json:"twitter,omitempty"`
	LinkedIn    string  `json:"linkedin,omitempty"`
	Notes       string  `json:"notes,omitempty"`
	Score       int64   `json:"score,omitempty"`
	Client      string  `json:"client,omitempty"`
	Branch      string  `json:"branch,omitempty"`
	LandingPage string  `json:"landing_page,omitempty"`
	User        string  `json:"user,omitempty"`
	Status      string  `json:"status,omitempty"`
	Assets      []Asset `json:"assets,omitempty"`
	// Fields holds everything mapped that has no field of its own. Values
	// are string, int64, float64, json.Number (a JSON number kept as it was
	// written) or bool; Text renders any of them. At most MaxFields keys and
	// MaxFieldsBytes of JSON once Decide merged them.
	Fields map[string]any `json:"fields,omitempty"`
	// FieldsDropped is set on Decide's merged lead only: how many keys (or
	// updates of known keys) the bounds of Fields left out of it, for
	// gateway_fields_dropped_total. It is never in the JSON or stored.
	FieldsDropped int `json:"-"`
}

// Event is the canonical event: the body that format "canonical" delivers.
type Event struct {
	// ID is unique per event and is also the webhook-id header; it is the
	// same on every delivery attempt.
	ID     string `json:"id"`
	Event  string `json:"event"`
	Source string `json:"source"`
	LeadID string `json:"lead_id"`
	// LeadVersion is the lead's version after this payload: 1 for a new
	// lead, one more for each stored change of it, kept by the store with
	// the lead so it grows across replicas. A payload that changes nothing
	// leaves it as it was; its events carry the current version.
	LeadVersion int64     `json:"lead_version"`
	ReceivedAt  time.Time `json:"received_at"`
	// Changed names the fields that changed, for lead.updated,
	// lead.score_changed and lead.field_updated.
	Changed []string `json:"changed,omitempty"`
	Lead    Lead     `json:"lead"`
}
