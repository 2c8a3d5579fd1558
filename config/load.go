package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"leadgate/config/yamlpos"
	"leadgate/gateway/policy"
)

// Load reads the config file at path: it copies the defaults in, expands
// ${VAR}, ${VAR:-default} and $$ in scalar values, decodes strictly (an
// unknown key is a problem), resolves relative paths against the file's
// folder, applies a non-empty REDIS_URL over redis.url and validates.
//
// A file that cannot be read is a wrapped error; otherwise every problem
// found is returned at once, joined, each a *Problem that prints as
// FILE:LINE: key.path: message (see Problems). With problems, Load still
// returns the config as far as it could be read, so that a caller can
// check what hangs off it (the mappings) and report everything at once;
// such a config must not be served.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return parse(path, data, os.LookupEnv)
}

// parse is Load after reading the file, with the environment injected.
func parse(path string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	c := Default()
	var decodeErrs []error
	c.file = path
	c.lines = map[string]int{}

	doc, err := yamlpos.Parse(data)
	if err != nil {
		return nil, syntaxProblem(path, err)
	}
	if doc.More {
		return nil, &Problem{File: path, Line: doc.MoreLine, Msg: "only one YAML document is allowed"}
	}
	if doc.Root != nil { // an empty file is the defaults
		d := &decoder{file: path, lines: c.lines, lookup: lookup}
		d.expand(doc.Root, "")
		d.decode(doc.Root, reflect.ValueOf(&c).Elem(), "")
		decodeErrs = d.errs
	}

	if u, ok := lookup("REDIS_URL"); ok && u != "" {
		c.Redis.URL = u
		c.redisFromEnv = true
	}
	dir := filepath.Dir(path)
	c.Storage.DataDir = resolve(dir, c.Storage.DataDir)
	c.MappingsDir = resolve(dir, c.MappingsDir)
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if file := d.TemplateFile(); file != "" {
			d.Format = policy.FormatTemplatePrefix + resolve(dir, file)
		}
	}

	// A value that failed to decode kept its default; validating the rest
	// still finds every other problem, but not a second one for that key.
	errs := decodeErrs
	for _, p := range Problems(c.Validate()) {
		if !coveredBy(p.Path, decodeErrs) {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b error) int { return a.(*Problem).Line - b.(*Problem).Line })
		return &c, errors.Join(errs...)
	}
	return &c, nil
}

// coveredBy reports whether path, or a key above or below it, already has
// one of the problems in errs.
func coveredBy(path string, errs []error) bool {
	for _, e := range errs {
		q := e.(*Problem).Path
		if q == path || strings.HasPrefix(path, q+".") || strings.HasPrefix(path, q+"[") ||
			strings.HasPrefix(q, path+".") || strings.HasPrefix(q, path+"[") {
			return true
		}
	}
	return false
}

// resolve makes a relative path relative to dir; empty stays empty.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// syntaxProblem turns a file that is not YAML into a Problem with its line.
func syntaxProblem(path string, err error) error {
	var se *yamlpos.SyntaxError
	if errors.As(err, &se) {
		return &Problem{File: path, Line: se.Line, Msg: se.Msg}
	}
	return &Problem{File: path, Msg: err.Error()}
}

// decoder walks the yaml.Node tree and the Go value together, so that it
// can refuse unknown keys, remember every key's line and report every
// problem rather than the first.
type decoder struct {
	file   string
	lines  map[string]int
	lookup func(string) (string, bool)
	errs   []error
	// unset names, per scalar, each ${VAR} written without a default
	// whose variable is unset or empty: an error where the value feeds a
	// secret or a header (see decode).
	unset map[*yaml.Node][]string
}

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// expand replaces ${VAR}, ${VAR:-default} and $$ in every scalar value
// (never in keys). It works on the node tree so line numbers stay true.
func (d *decoder) expand(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.expand(c, path)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expand(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expand(n.Content[i+1], joinPath(path, n.Content[i].Value))
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, unset, err := expandVars(n.Value, d.lookup)
		if err != nil {
			d.fail(n.Line, path, "%v", err)
			return
		}
		n.Value = v
		if len(unset) > 0 {
			if d.unset == nil {
				d.unset = map[*yaml.Node][]string{}
			}
			d.unset[n] = unset
		}
		// Aliases are not followed: the anchored node is expanded where
		// it is written, once.
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandString expands ${VAR} (unset: empty), ${VAR:-default} (unset or
// empty: default) and $$ (a literal $). Any other $ stays as written.
func expandString(s string, lookup func(string) (string, bool)) (string, error) {
	v, _, err := expandVars(s, lookup)
	return v, err
}

// expandVars is expandString that also names each ${VAR}, written without
// a default, whose variable is unset or empty.
func expandVars(s string, lookup func(string) (string, bool)) (string, []string, error) {
	var unset []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, errors.New("unterminated ${ (write $$ for a literal $)")
			}
			expr := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !envName.MatchString(name) {
				return "", nil, fmt.Errorf("invalid variable name %q in ${…}", name)
			}
			v, _ := lookup(name)
			switch {
			case hasDef && v == "":
				v = def
			case v == "":
				unset = append(unset, name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), unset, nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
	secretsType  = reflect.TypeFor[[]Secret]()
)

// defaulter is a list entry that starts from defaults of its own.
type defaulter interface{ setDefaults() }

// decode stores node n into v. A null node keeps v's default. The caller
// records path's line, so that a block's problem points at its key.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	// A secret (admin keys, signing secrets, header values: every Secret)
	// may be left empty only through ${VAR:-}: an unset ${VAR} would sign
	// nothing, send an empty header or switch the admin API off unasked.
	if t := v.Type(); (t == secretType || t == secretsType) && n.Kind == yaml.ScalarNode {
		for _, name := range d.unset[n] {
			d.fail(n.Line, path, "${%s} is not set (set it, or write ${%s:-} to make it optional)", name, name)
		}
	}
	if d.decodeSpecial(n, v, path) {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, path, "must be a string")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := parseBool(n)
		if !ok {
			d.fail(n.Line, path, "must be true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.fail(n.Line, path, "must be an integer")
			return
		}
		v.SetInt(i)
	default:
		panic(fmt.Sprintf("config: cannot decode into %s", v.Type()))
	}
}

// decodeSpecial decodes the types that are not decoded by their kind: a
// duration, and a list of secrets written as one string. It reports
// whether it did.
func (d *decoder) decodeSpecial(n *yaml.Node, v reflect.Value, path string) bool {
	switch v.Type() {
	case durationType:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, path, "must be a duration such as 5s or 10m")
			return true
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(n.Line, path, "must be a duration such as 5s or 10m, got %q", n.Value)
			return true
		}
		v.SetInt(int64(dur))
		return true
	case secretsType:
		if n.Kind == yaml.ScalarNode {
			// One secret written as a plain string.
			v.Set(reflect.Zero(v.Type()))
			if n.Value != "" {
				v.Set(reflect.ValueOf([]Secret{Secret(n.Value)}))
			}
			return true
		}
	}
	return false
}

func parseBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// decodeStruct decodes a mapping into a struct by its yaml tags, refusing
// unknown and repeated keys.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "must be a mapping")
		return
	}
	fields := map[string][]int{}
	yamlFields(v.Type(), nil, fields)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	for _, kv := range d.pairs(n, path) {
		p := joinPath(path, kv.Key.Value)
		i, ok := fields[kv.Key.Value]
		if !ok {
			if near := yamlpos.Nearest(kv.Key.Value, names); near != "" {
				d.fail(kv.Key.Line, p, "unknown key; did you mean %s?", near)
			} else {
				d.fail(kv.Key.Line, p, "unknown key")
			}
			continue
		}
		d.lines[p] = kv.Key.Line
		d.decode(kv.Value, v.FieldByIndex(i), p)
	}
}

// decodeMap decodes a mapping with string keys.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "must be a mapping")
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := joinPath(path, kv.Key.Value)
		d.lines[p] = kv.Key.Line
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.Value, e, p)
		m.SetMapIndex(reflect.ValueOf(kv.Key.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

// decodeSlice decodes a sequence; a list entry that has defaults starts
// from them. A list replaces the default list rather than adding to it.
func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "must be a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for _, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, s.Len())
		e := reflect.New(v.Type().Elem())
		if df, ok := e.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.lines[p] = item.Line
		d.decode(item, e.Elem(), p)
		if v.Type() == secretsType && e.Elem().String() == "" {
			continue // an unset ${VAR} in a rotation list
		}
		s = reflect.Append(s, e.Elem())
	}
	v.Set(s)
}

// pairs lists a mapping's keys and values, merge keys (<<: *anchor)
// resolved; a key written twice is a problem.
func (d *decoder) pairs(n *yaml.Node, path string) []yamlpos.Pair {
	return yamlpos.Pairs(n, func(k *yaml.Node, issue yamlpos.Issue) {
		switch issue {
		case yamlpos.KeyNotString:
			d.fail(k.Line, path, "keys must be strings")
		case yamlpos.KeyRepeated:
			d.fail(k.Line, joinPath(path, k.Value), "duplicate key")
		case yamlpos.BadMerge:
			d.fail(k.Line, path, "<< must merge a mapping or a list of mappings")
		case yamlpos.MergeCycle:
			d.fail(k.Line, path, "<< merges a mapping into itself")
		}
	})
}
