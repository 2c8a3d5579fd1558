package deliver

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"leadgate/gateway/lead"
)

// Matches says whether d wants ev: d is enabled, ev's event and source are
// among d's (empty lists admit all), a form.submitted comes from one of d's
// landing pages when d names any, and every field filter matches.
func Matches(d *Destination, ev *lead.Event) bool {
	if !matchesNoFilters(d, ev) {
		return false
	}
	if len(d.Filters) == 0 {
		return true
	}
	doc, err := json.Marshal(ev)
	if err != nil {
		return false
	}
	return matchesFilters(d, doc)
}

func matchesNoFilters(d *Destination, ev *lead.Event) bool {
	if !d.Enabled {
		return false
	}
	if len(d.Events) > 0 && !slices.Contains(d.Events, ev.Event) {
		return false
	}
	if len(d.Sources) > 0 && !slices.Contains(d.Sources, ev.Source) {
		return false
	}
	if len(d.LandingPages) > 0 && ev.Event == lead.FormSubmitted {
		page := normalizePage(ev.Lead.LandingPage)
		if !slices.ContainsFunc(d.LandingPages, func(p string) bool { return normalizePage(p) == page }) {
			return false
		}
	}
	return true
}

// normalizePage compares landing pages as people write them: scheme, host
// and path only. The query (utm_… tags on a Referer), the fragment, a
// trailing slash and the letter case of the scheme and host do not matter.
func normalizePage(p string) string {
	p = strings.TrimSpace(p)
	u, err := url.Parse(p)
	if err != nil || u.Host == "" {
		// Not an absolute URL: compare it as written, less query and
		// fragment.
		p, _, _ = strings.Cut(p, "#")
		p, _, _ = strings.Cut(p, "?")
		return strings.TrimSuffix(p, "/")
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/")
}

// matchesFilters applies d's field filters to the event's JSON. A path that
// selects an array (lead.assets.#.type) matches when any element does.
func matchesFilters(d *Destination, doc []byte) bool {
	for _, f := range d.Filters {
		r := gjson.GetBytes(doc, f.Path)
		ok := false
		if r.IsArray() {
			r.ForEach(func(_, v gjson.Result) bool {
				ok = slices.Contains(f.Equals, v.String())
				return !ok
			})
		} else {
			ok = slices.Contains(f.Equals, r.String())
		}
		if !ok {
			return false
		}
	}
	return true
}

// Ordered says whether the destination of ds named name wants a lead's
// events in order; pass it, with Route over the same ds, as
// store.IngestRequest.Ordered.
func Ordered(ds []Destination, name string) bool {
	for i := range ds {
		if ds[i].Name == name {
			return ds[i].Ordered
		}
	}
	return false
}

// Route names the destinations of ds that want ev, marshaling the event at
// most once however many destinations filter on fields. It is pure and fast
// enough to run inside the store's write (store.IngestRequest.Route).
func Route(ds []Destination, ev *lead.Event) []string {
	var names []string
	var doc []byte
	for i := range ds {
		d := &ds[i]
		if !matchesNoFilters(d, ev) {
			continue
		}
		if len(d.Filters) > 0 {
			if doc == nil {
				var err error
				if doc, err = json.Marshal(ev); err != nil {
					continue
				}
			}
			if !matchesFilters(d, doc) {
				continue
			}
		}
		names = append(names, d.Name)
	}
	return names
}
