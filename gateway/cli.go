package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"leadgate/config"
	"leadgate/gateway/deliver"
	"leadgate/gateway/mapping"
	"leadgate/gateway/store/bolt"
)

// validate checks the config and every mapping: exit 0, or 1 with one
// file:line: message per problem.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig(), "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	l := loadOrReport(*path, stderr)
	if l == nil {
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d mappings: %s; %d destinations)\n", *path,
		len(l.mappings.Names()), strings.Join(l.mappings.Names(), ", "), len(l.destinations))
	return 0
}

// loadOrReport loads the config and mappings, or prints every problem, one
// file:line: message a line, and returns nil.
func loadOrReport(path string, stderr io.Writer) *loaded {
	l, err := load(path)
	if err != nil {
		for _, line := range mapping.ErrorLines(err) {
			fmt.Fprintln(stderr, line)
		}
		return nil
	}
	return l
}

// headerFlags collects repeated -header 'K: V'.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// mapPayload prints the events a payload would produce for a new lead,
// without side effects: nothing is stored, authenticated or delivered.
func mapPayload(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("map", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig(), "config file")
	source := fs.String("source", "", "mapping name (required)")
	query := fs.String("query", "", "query string, k=v&…")
	var headers headerFlags
	fs.Var(&headers, "header", "request header 'K: V' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *source == "" {
		fmt.Fprintln(stderr, "map: -source is required")
		return 2
	}
	l := loadOrReport(*path, stderr)
	if l == nil {
		return 1
	}
	out, err := preview1(l.mappings, *source, *query, headers, stdin)
	if err != nil {
		for _, line := range mapping.ErrorLines(err) {
			fmt.Fprintln(stderr, "map: "+line)
		}
		return 1
	}
	out.Answering(deliver.Destinations(l.destinations))
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, "map:", err)
		return 1
	}
	return 0
}

func preview1(set *mapping.Set, source, query string, headers []string, stdin io.Reader) (mapping.PreviewResult, error) {
	h := map[string]string{}
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return mapping.PreviewResult{}, fmt.Errorf("-header %q: want 'Key: Value'", kv)
		}
		h[k] = v
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		return mapping.PreviewResult{}, fmt.Errorf("read payload: %w", err)
	}
	return mapping.Preview(set, source, "", query, h, raw)
}

// compact rewrites the embedded store's file offline so that what
// retention removed is given back to the disk. It reads only the config
// (not the mappings) and refuses when Redis is configured or a gateway
// holds the file.
func compact(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig(), "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		for _, line := range mapping.ErrorLines(err) {
			fmt.Fprintln(stderr, line)
		}
		return 1
	}
	if cfg.Redis.URL != "" {
		fmt.Fprintln(stderr, "compact: redis.url (or REDIS_URL) is set: this gateway keeps its state in Redis, not in a file; nothing to compact")
		return 1
	}
	progress := func(line string) { fmt.Fprintln(stdout, "compact: "+line) }
	before, after, err := bolt.Compact(cfg.Storage.DataDir, time.Second, progress)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "compact: done: %s before, %s after, %s given back to the disk\n",
		bolt.HumanBytes(before), bolt.HumanBytes(after), bolt.HumanBytes(max(before-after, 0)))
	return 0
}
