package mapping

import (
	"time"

	"gopkg.in/yaml.v3"
)

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

func (c *compiler) respond(n *yaml.Node) {
	k := c.keys(n, []string{"destination", "timeout"})
	if n.Kind != yaml.MappingNode {
		return
	}
	r := &Respond{Timeout: DefaultRespondTimeout, Line: n.Line}
	if v := k["destination"]; v == nil {
		c.errf(n, "respond: destination is required")
	} else if name, ok := c.scalar(v, "respond.destination"); ok {
		if name == "" {
			c.errf(v, "respond.destination: must name a destination of gateway.yaml")
		}
		r.Destination, r.Line = name, v.Line
	}
	if v := k["timeout"]; v != nil {
		if s, ok := c.scalar(v, "respond.timeout"); ok {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 || d > MaxRespondTimeout {
				c.errf(v, "respond.timeout %q: want a duration above 0 and at most %s, such as 5s", s, MaxRespondTimeout)
			}
			r.Timeout = d
		}
	}
	c.m.respond = r
}
