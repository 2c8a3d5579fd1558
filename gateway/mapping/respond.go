package mapping

import "time"

// The reverse-proxy answer (contract §3), as a mapping declares it:
//
//	respond: {destination: ledsak, timeout: 5s}
//
// The payload is stored as always, then sent to that destination at once,
// and its 2xx or 4xx answer becomes the inbound answer. That the
// destination exists and takes this source's events is checked against
// gateway.yaml by the loader (`gateway validate`), which knows both.

// DefaultRespondTimeout is respond's timeout when the mapping gives none.
const DefaultRespondTimeout = 5 * time.Second

// MaxRespondTimeout caps respond's timeout: the payload's sender waits that
// long at most for the destination before it gets the gateway's own 200.
const MaxRespondTimeout = 10 * time.Second

// Respond is a mapping's respond section.
type Respond struct {
	// Destination names the destination whose answer is relayed.
	Destination string
	// Timeout bounds the wait for its answer.
	Timeout time.Duration
	// Line is the line of destination in the mapping file, for the
	// loader's messages about it.
	Line int
}

// Respond returns the mapping's respond section, nil when it has none.
func (m *Mapping) Respond() *Respond { return m.respond }

func (c *compiler) respond(src *respondSrc) {
	if !src.mapping {
		return
	}
	r := &Respond{Timeout: DefaultRespondTimeout, Line: src.line}
	if v := src.destination; v == nil {
		c.errf(src.line, "respond: destination is required")
	} else if v.ok {
		if v.val == "" {
			c.errf(v.line, "respond.destination: must name a destination of gateway.yaml")
		}
		r.Destination, r.Line = v.val, v.line
	}
	if v := src.timeout; v != nil && v.ok {
		d, err := time.ParseDuration(v.val)
		if err != nil || d <= 0 || d > MaxRespondTimeout {
			c.errf(v.line, "respond.timeout %q: want a duration above 0 and at most %s, such as 5s", v.val, MaxRespondTimeout)
		}
		r.Timeout = d
	}
	c.m.respond = r
}
