package mapping

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"leadgate/gateway/internal/textdiff"
	"leadgate/gateway/lead"
)

var update = flag.Bool("update", false, "rewrite the golden files of mappings/testdata")

const mappingsDir = "../../mappings"

// fixtures lists a shipped mapping's fixtures.
func fixtures(t testing.TB, source string) []Fixture {
	t.Helper()
	fs, err := Fixtures(mappingsDir, source)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// loadShipped compiles mappings/ with every auth secret unset, as on a
// fresh machine.
func loadShipped(t testing.TB) *Set {
	t.Helper()
	for _, v := range []string{"WEBSITE_WEBHOOK_TOKEN", "SAVE_LEAD_TOKEN", "LEADSIE_WEBHOOK_TOKEN"} {
		t.Setenv(v, "")
	}
	set, err := LoadDir(mappingsDir)
	if err != nil {
		t.Fatalf("load shipped mappings: %v", err)
	}
	return set
}

// request reads a fixture into what the server would hand the mapping.
func request(t testing.TB, f Fixture) (contentType string, body []byte, in Input) {
	t.Helper()
	ct, body, in, err := f.Request()
	if err != nil {
		t.Fatal(err)
	}
	return ct, body, in
}

// TestGolden maps every fixture of every shipped mapping and compares the
// result with its golden file; -update rewrites them. A mapping without
// fixtures fails.
func TestGolden(t *testing.T) {
	set := loadShipped(t)
	for _, source := range set.Names() {
		fs := fixtures(t, source)
		if len(fs) == 0 {
			t.Errorf("mapping %q has no fixtures in %s", source, FixtureDir(mappingsDir, source))
		}
		for _, f := range fs {
			t.Run(source+"/"+f.Name, func(t *testing.T) {
				o, err := f.Check(set)
				if err != nil {
					t.Fatal(err)
				}
				if o.Golden.Error == "" {
					checkFirstSeen(t, source, o.Golden)
				}
				if *update {
					if err := os.WriteFile(f.GoldenFile(), o.Got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				if o.Want == nil {
					t.Fatalf("%s is missing (run go test ./gateway/mapping -run TestGolden -update)", f.GoldenFile())
				}
				if !o.Pass() {
					t.Errorf("%s differs from the mapping's output (-golden +mapping):\n%s", f.GoldenFile(), textdiff.Lines(o.Want, o.Got))
				}
			})
		}
	}
}

// firstSeen is the events each shipped source makes for a lead seen for
// the first time (contract section 4): a website form is form.submitted and
// lead.created, a save_lead payload lead.created, a Leadsie connection
// connection.created only.
var firstSeen = map[string][]string{
	"website":   {lead.FormSubmitted, lead.LeadCreated},
	"save_lead": {lead.LeadCreated},
	"leadsie":   {lead.ConnectionCreated},
}

// checkFirstSeen holds a fixture's events to the contract, whatever its
// golden file says: the names, one source, the one lead and no changed.
func checkFirstSeen(t *testing.T, source string, g Golden) {
	t.Helper()
	want, ok := firstSeen[source]
	if !ok {
		t.Fatalf("no expected events for source %q: add it to firstSeen", source)
	}
	var names []string
	for _, ev := range g.Events {
		names = append(names, ev.Event)
		if ev.Source != source || ev.LeadID != lead.PreviewLeadID || ev.ID != lead.PreviewEventID || ev.Changed != nil {
			t.Errorf("event %s: source %q, lead_id %q, id %q, changed %v", ev.Event, ev.Source, ev.LeadID, ev.ID, ev.Changed)
		}
		a, _ := json.Marshal(ev.Lead)
		b, _ := json.Marshal(g.Lead)
		if string(a) != string(b) {
			t.Errorf("event %s carries lead %s, want the mapped lead %s", ev.Event, a, b)
		}
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("events = %v, want %v", names, want)
	}
}
