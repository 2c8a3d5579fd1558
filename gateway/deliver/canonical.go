package deliver

import "leadgate/gateway/lead"

// appendCanonical appends ev's canonical JSON exactly as marshalJSON (an
// encoder without HTML escaping) writes it, without reflection: the
// canonical body is rendered once per delivery attempt, and reflecting over
// the event and sorting its fields' keys through encoding/json was most of
// that cost. The lead's encoder lives in package lead, shared with the
// stores; TestCanonicalMatchesEncoder checks the bytes.
func appendCanonical(b []byte, ev *lead.Event) ([]byte, error) {
	leadJSON, err := lead.AppendLeadJSON(make([]byte, 0, 384), &ev.Lead, false)
	if err != nil {
		return nil, err
	}
	return lead.AppendEventJSON(b, ev, leadJSON, false)
}
