package lead

import (
	"strconv"
	"time"
)

// NewEvents makes Decide's drafts into events of one payload: each gets an
// id from newID and shares the merged lead and the lead's version.
func NewEvents(drafts []Draft, merged Lead, source, leadID string, version int64, at time.Time, newID func() string) []Event {
	events := make([]Event, len(drafts))
	for i, d := range drafts {
		events[i] = Event{
			ID:          newID(),
			Event:       d.Event,
			Source:      source,
			LeadID:      leadID,
			LeadVersion: version,
			ReceivedAt:  at,
			Changed:     d.Changed,
			Lead:        merged,
		}
	}
	return events
}

// AppendEventJSON appends ev's canonical JSON, byte for byte what
// encoding/json writes for it, with leadJSON (ev.Lead already encoded) as
// its lead: a payload's events then share one encoding of their lead, and
// nothing reflects over the envelope. escapeHTML picks json.Marshal's
// escaping of <, > and & (what the stores keep) or that of an Encoder with
// SetEscapeHTML(false) (what deliveries send).
func AppendEventJSON(b []byte, ev *Event, leadJSON []byte, escapeHTML bool) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, ev.ID, escapeHTML)
	b = append(b, `,"event":`...)
	b = AppendJSONString(b, ev.Event, escapeHTML)
	b = append(b, `,"source":`...)
	b = AppendJSONString(b, ev.Source, escapeHTML)
	b = append(b, `,"lead_id":`...)
	b = AppendJSONString(b, ev.LeadID, escapeHTML)
	b = append(b, `,"lead_version":`...)
	b = strconv.AppendInt(b, ev.LeadVersion, 10)
	b = append(b, `,"received_at":`...)
	// MarshalJSON's bytes (strict RFC 3339 with nanoseconds, quoted),
	// appended in place.
	b = append(b, '"')
	b, err := ev.ReceivedAt.AppendText(b)
	if err != nil {
		return nil, err
	}
	b = append(b, '"')
	if len(ev.Changed) > 0 {
		b = append(b, `,"changed":[`...)
		for i, c := range ev.Changed {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, c, escapeHTML)
		}
		b = append(b, ']')
	}
	b = append(b, `,"lead":`...)
	b = append(b, leadJSON...)
	return append(b, '}'), nil
}
