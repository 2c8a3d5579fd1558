package store

import "time"

// LeadQuery narrows Store.Leads, the lead export: the leads last seen in
// [Since, Until), optionally only those a payload of Source touched.
type LeadQuery struct {
	// Since and Until bound LastSeen: Since <= LastSeen < Until. A zero
	// time leaves that side open.
	Since, Until time.Time
	// Source keeps the leads that a payload of that source touched (made,
	// changed or saw again: it is in LeadRecord.Sources); "" keeps every
	// lead.
	Source string
	// Cursor is the next of a previous page; "" starts at the oldest.
	Cursor string
	// Limit caps the page; zero means 100.
	Limit int
}

// DefaultLeadPage is the page size of Leads when LeadQuery.Limit is zero.
const DefaultLeadPage = 100
