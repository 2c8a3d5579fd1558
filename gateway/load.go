package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"leadgate/config"
	"leadgate/gateway/deliver"
	"leadgate/gateway/leadsquared"
	"leadgate/gateway/mapping"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/server"
)

// loaded is one validated whole: gateway.yaml and the mappings it names.
type loaded struct {
	cfg          *config.Config
	mappings     *mapping.Set
	destinations []deliver.Destination
}

// load reads and validates the config and every mapping, and cross-checks
// them: every problem is reported at once, one per line, file:line first.
func load(path string) (*loaded, error) {
	cfg, err := config.Load(path)
	if cfg == nil {
		return nil, err
	}
	var problems []error
	if err != nil {
		problems = append(problems, err)
	}
	set, mapErr := mapping.LoadDir(cfg.MappingsDir)
	if mapErr != nil {
		problems = append(problems, mapErr)
	}
	names := mappingNames(set, cfg.MappingsDir)
	if len(names) == 0 && mapErr == nil {
		problems = append(problems, fmt.Errorf("%s: mappings_dir holds no mapping (*.yaml)", cfg.MappingsDir))
	}
	for i, d := range cfg.Destinations {
		for k, src := range d.Sources {
			if !slices.Contains(names, src) {
				problems = append(problems, cfg.Problemf(fmt.Sprintf("destinations[%d].sources[%d]", i, k),
					"%q is not a mapping in %s (have %s)", src, cfg.MappingsDir, strings.Join(names, ", ")))
			}
		}
	}
	problems = append(problems, checkRespond(cfg, set)...)
	dests, err := destinations(cfg)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return &loaded{cfg: cfg, mappings: set, destinations: dests}, nil
}

// mappingNames names the sources: the loaded set's, or, when a mapping
// failed to compile, the files present, so that destinations naming a
// broken mapping are not reported twice.
func mappingNames(set *mapping.Set, dir string) []string {
	if set != nil {
		return set.Names()
	}
	var names []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range files {
			names = append(names, strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)))
		}
	}
	sort.Strings(names)
	return names
}

// destinations turns gateway.yaml's destinations into the deliver
// package's and reads their templates. config validated them with the
// checks deliver's sender and signer rely on (package policy), so they are
// not checked again.
func destinations(cfg *config.Config) ([]deliver.Destination, error) {
	out := make([]deliver.Destination, 0, len(cfg.Destinations))
	var problems []error
	for i, d := range cfg.Destinations {
		dd := deliver.Destination{
			Name:            d.Name,
			URL:             d.URL,
			Method:          d.Method,
			ContentType:     d.ContentType,
			Format:          d.Format,
			Events:          d.Events,
			Sources:         d.Sources,
			LandingPages:    d.LandingPages,
			Enabled:         d.Enabled,
			Delivery:        d.Delivery,
			Secrets:         d.RevealSecrets(),
			NotifyOnFailure: d.NotifyOnFailure,
			AllowPrivate:    d.AllowPrivate || cfg.Server.AllowPrivateDestinations,
			Ledsak:          deliver.LedsakDefaults{Client: d.Ledsak.Client, Branch: d.Ledsak.Branch},
		}
		if dd.NotifyOnFailure == "" {
			dd.NotifyOnFailure = cfg.NotifyURL
		}
		keys := make([]string, 0, len(d.Headers))
		for k := range d.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			dd.Headers = append(dd.Headers, deliver.Header{Key: k, Value: d.Headers[k].Reveal()})
		}
		for _, f := range d.Filter {
			dd.Filters = append(dd.Filters, deliver.FieldFilter{Path: f.Path, Equals: f.Equals})
		}
		if file := d.TemplateFile(); file != "" {
			text, err := os.ReadFile(file)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: destinations[%d].format: read template: %w", cfg.Where(fmt.Sprintf("destinations[%d].format", i)), i, err))
				continue
			}
			dd.Template = string(text)
			if err := deliver.CheckTemplate(dd.Template); err != nil {
				problems = append(problems, fmt.Errorf("%s: destinations[%d].format: %s: %w", cfg.Where(fmt.Sprintf("destinations[%d].format", i)), i, file, err))
				continue
			}
		}
		out = append(out, dd)
	}
	return out, errors.Join(problems...)
}

// subscriptionSettings is what the LeadSquared-compatible API takes from
// the config: the admin keys, the private-address rule and the
// subscriptions block. A reload passes it to SetSettings.
func subscriptionSettings(cfg *config.Config) leadsquared.Settings {
	s := cfg.Subscriptions
	return leadsquared.Settings{
		AccessKey:    cfg.Admin.AccessKey.Reveal(),
		SecretKey:    cfg.Admin.SecretKey.Reveal(),
		AllowPrivate: cfg.Server.AllowPrivateDestinations,
		Defaults:     leadsquared.Defaults{Delivery: s.Delivery(), Secrets: s.RevealSecrets()},
	}
}

// runtime builds the server's snapshot from a load and the subscriptions.
func (l *loaded) runtime(subs []deliver.Destination) *server.Runtime {
	dests := make([]deliver.Destination, 0, len(l.destinations)+len(subs))
	dests = append(dests, l.destinations...)
	dests = append(dests, subs...)
	return &server.Runtime{
		Mappings:     l.mappings,
		Destinations: dests,
		Inbound:      ratelimit.Limit{Requests: l.cfg.RateLimit.Requests, Per: l.cfg.RateLimit.Per},
		BodyLimit:    int(l.cfg.Server.BodyLimit),
		AccessKey:    l.cfg.Admin.AccessKey.Reveal(),
		SecretKey:    l.cfg.Admin.SecretKey.Reveal(),
	}
}
