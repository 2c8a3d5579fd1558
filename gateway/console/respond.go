package console

import (
	"leadgate/gateway/deliver"
)

// RespondPreview says who would answer a payload's sender when its mapping
// has a respond section (contract §3, the reverse-proxy answer): what
// `gateway map` prints and the playground shows.
type RespondPreview struct {
	// Destination is the respond destination.
	Destination string `json:"destination"`
	// Timeout is how long the sender would wait for it.
	Timeout string `json:"timeout"`
	// Event is the event that would be sent to it at once and whose answer
	// would be relayed: the first of the payload's events it takes. Empty
	// when it takes none (or is not configured): the gateway answers.
	Event string `json:"event,omitempty"`
	// Says is the same in a sentence.
	Says string `json:"says"`
}

// Answering fills r.Respond's event and sentence from the destinations the
// gateway runs with (those of gateway.yaml and the subscriptions). A
// result whose mapping has no respond is left as it is.
func (r *Result) Answering(dests []deliver.Destination) {
	rp := r.Respond
	if rp == nil {
		return
	}
	var d *deliver.Destination
	for i := range dests {
		if dests[i].Name == rp.Destination {
			d = &dests[i]
			break
		}
	}
	rp.Event = ""
	switch {
	case d == nil:
		rp.Says = rp.Destination + " is not a configured destination: Leadgate answers itself (200 with its own lead_id)."
		return
	case !d.Enabled:
		rp.Says = rp.Destination + " is disabled: Leadgate answers itself (200 with its own lead_id)."
		return
	}
	for i := range r.Events {
		if deliver.Matches(d, &r.Events[i]) {
			rp.Event = r.Events[i].Event
			break
		}
	}
	if rp.Event == "" {
		rp.Says = rp.Destination + " takes none of these events: Leadgate answers itself (200 with its own lead_id)."
		return
	}
	rp.Says = rp.Destination + " answers: the " + rp.Event + " event is sent to it at once and its 2xx or 4xx answer is relayed. " +
		"After " + rp.Timeout + ", or on an error, a 5xx or 429, or while it is paced, Leadgate answers itself and the delivery retries."
}
