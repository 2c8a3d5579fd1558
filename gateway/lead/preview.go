package lead

import "time"

// PreviewLeadID and PreviewEventID stand in for ids in a preview, where
// nothing is stored and so nothing is given a real id.
const (
	PreviewLeadID  = "lead_preview"
	PreviewEventID = "evt_preview"
)

// Preview returns the events a payload normalized to next would produce for
// a lead seen for the first time, as `gateway map` and the playground show
// them: Decide's drafts made into events with placeholder ids.
func Preview(next Lead, emits []string, source string, now time.Time) []Event {
	merged, drafts := Decide(nil, next, emits)
	return NewEvents(drafts, merged, source, PreviewLeadID, 1, now, func() string { return PreviewEventID })
}
