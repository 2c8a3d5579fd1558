package deliver

import "leadgate/gateway/lead"

// Destinations is the destinations the gateway runs with, as a preview
// asks them who would answer a payload (mapping.Routes).
type Destinations []Destination

// Route reports whether the destination named dest exists and is enabled,
// and whether it takes ev (false for a nil ev).
func (ds Destinations) Route(dest string, ev *lead.Event) (found, enabled, takes bool) {
	for i := range ds {
		if ds[i].Name == dest {
			d := &ds[i]
			return true, d.Enabled, ev != nil && Matches(d, ev)
		}
	}
	return false, false, false
}
