package main

import (
	"fmt"
	"slices"
	"strings"

	"leadgate/config"
	"leadgate/gateway/mapping"
)

// checkRespond cross-checks each mapping's respond section against
// gateway.yaml: the destination exists, is not ordered, and its events and
// sources filters take at least one event this source emits, or it could
// never answer.
// Landing pages and field filters depend on the payload and are not
// checked: a payload they turn away gets the gateway's own answer.
func checkRespond(cfg *config.Config, set *mapping.Set) []error {
	if set == nil {
		return nil
	}
	var problems []error
	names := make([]string, 0, len(cfg.Destinations))
	for _, d := range cfg.Destinations {
		names = append(names, d.Name)
	}
	for _, src := range set.Names() {
		m, _ := set.Get(src)
		r := m.Respond()
		if r == nil {
			continue
		}
		at := fmt.Sprintf("%s:%d: respond.destination", m.File(), r.Line)
		i := slices.Index(names, r.Destination)
		if i < 0 {
			have := strings.Join(names, ", ")
			if have == "" {
				have = "none"
			}
			problems = append(problems, fmt.Errorf("%s: %q is not a destination in %s (have %s)", at, r.Destination, cfg.File(), have))
			continue
		}
		d := cfg.Destinations[i]
		if d.Ordered {
			problems = append(problems, fmt.Errorf("%s: destination %q is ordered: a lead's events wait there for its earlier ones, so none can answer at once", at, r.Destination))
			continue
		}
		if len(d.Sources) > 0 && !slices.Contains(d.Sources, src) {
			problems = append(problems, fmt.Errorf("%s: destination %q does not take source %s (its sources: %s)", at, r.Destination, src, strings.Join(d.Sources, ", ")))
			continue
		}
		if len(d.Events) > 0 && !slices.ContainsFunc(m.Emits(), func(ev string) bool { return slices.Contains(d.Events, ev) }) {
			problems = append(problems, fmt.Errorf("%s: destination %q takes none of the events %s emits (it takes %s; %s emits %s)", at, r.Destination, src,
				strings.Join(d.Events, ", "), src, strings.Join(m.Emits(), ", ")))
		}
	}
	return problems
}
