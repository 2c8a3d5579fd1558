package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"leadgate/gateway/internal/textdiff"
	"leadgate/gateway/mapping"
)

// testFixtures runs the fixtures of every mapping, or of the sources named,
// and prints PASS or FAIL with a diff per fixture and a summary: exit 0
// when all pass, 1 otherwise. A mapping without fixtures fails, as it does
// in the mapping package's own golden test.
func testFixtures(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig(), "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	l := loadOrReport(*path, stderr)
	if l == nil {
		return 1
	}
	names := l.mappings.Names()
	sources := fs.Args()
	if len(sources) == 0 {
		sources = names
	}
	for _, s := range sources {
		if !slices.Contains(names, s) {
			fmt.Fprintf(stderr, "test: %q is not a mapping in %s (have %s)\n", s, l.cfg.MappingsDir, strings.Join(names, ", "))
			return 1
		}
	}
	passed, failed := 0, 0
	for _, source := range sources {
		fixtures, err := mapping.Fixtures(l.cfg.MappingsDir, source)
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", source, err)
			failed++
			continue
		}
		if len(fixtures) == 0 {
			fmt.Fprintf(stdout, "FAIL %s: no fixtures in %s\n", source, mapping.FixtureDir(l.cfg.MappingsDir, source))
			failed++
			continue
		}
		for _, f := range fixtures {
			if runFixture(f, l.mappings, stdout) {
				passed++
			} else {
				failed++
			}
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "FAIL: %d passed, %d failed\n", passed, failed)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d passed\n", passed)
	return 0
}

// runFixture prints one fixture's line, and what is wrong when it fails.
func runFixture(f mapping.Fixture, set *mapping.Set, stdout io.Writer) bool {
	name := f.Source + "/" + f.Name
	o, err := f.Check(set)
	switch {
	case err != nil:
		fmt.Fprintf(stdout, "FAIL %s: %v\n", name, err)
		return false
	case o.Want == nil:
		fmt.Fprintf(stdout, "FAIL %s: %s is missing; the mapping gives (review it, then save it there):\n%s", name, f.GoldenFile(), o.Got)
		return false
	case !o.Pass():
		fmt.Fprintf(stdout, "FAIL %s: %s differs (-golden +mapping):\n%s", name, f.GoldenFile(), indent(textdiff.Lines(o.Want, o.Got)))
		return false
	}
	fmt.Fprintf(stdout, "PASS %s\n", name)
	return true
}

// indent sets a diff off from the PASS and FAIL lines.
func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"
}
