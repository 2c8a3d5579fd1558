package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// pathOf compiles a path with an optional "body:", "query:", "header:" or
// "pair:" prefix. An element path (assets fields) is relative to the
// element and reads the body only.
func (c *compiler) pathOf(raw string, from source, element bool) (pathSpec, error) {
	p := raw
	for s, name := range sourceNames {
		if rest, ok := strings.CutPrefix(raw, name+":"); ok {
			from, p = source(s), rest
			break
		}
	}
	if element {
		if from != fromBody {
			return pathSpec{}, fmt.Errorf("path %q: an asset field reads its element only", raw)
		}
		return c.elemPath(p)
	}
	switch from {
	case fromQuery, fromHeader:
		if p == "" {
			return pathSpec{}, fmt.Errorf("path %q: the %s name is empty", raw, sourceNames[from])
		}
		return pathSpec{from: from, raw: raw, path: p, prefix: -1, slot: -1}, nil
	case fromPair:
		if c.m.pairs == nil {
			return pathSpec{}, fmt.Errorf("path %q: pair: needs a pairs: section", raw)
		}
		key := strings.ToLower(strings.TrimSpace(p))
		if key == "" {
			return pathSpec{}, fmt.Errorf("path %q: the pair key is empty", raw)
		}
		c.m.pairUsed[key] = true
		slot, ok := c.m.pairSlot[key]
		if !ok {
			slot = c.m.nSlots
			c.m.pairSlot[key] = slot
			c.m.nSlots++
		}
		return pathSpec{from: fromPair, raw: raw, path: key, prefix: -1, slot: slot}, nil
	}
	ps, err := c.bodyPath(p, true)
	ps.raw = raw
	return ps, err
}

// bodyPath compiles a body path; a simple one registers its objects for
// indexing and, when consume is set, marks its keys as read.
func (c *compiler) bodyPath(p string, consume bool) (pathSpec, error) {
	comps, err := checkPath(p)
	if err != nil {
		return pathSpec{raw: p, path: p, prefix: -1, slot: -1}, err
	}
	ps := pathSpec{raw: p, path: p, prefix: -1, slot: -1}
	if comps == nil {
		return ps, nil
	}
	parent := 0
	for i, comp := range comps {
		if consume {
			c.m.consumed[parent][comp] = true
		}
		if i == len(comps)-1 {
			break
		}
		parent = c.prefixIndex(comps[:i+1])
	}
	ps.prefix, ps.key = parent, comps[len(comps)-1]
	slot, ok := c.m.keySlot[parent][ps.key]
	if !ok {
		slot = c.m.nSlots
		c.m.keySlot[parent][ps.key] = slot
		c.m.nSlots++
	}
	ps.slot = slot
	return ps, nil
}

// elemPath compiles a path relative to an array element; a single key is
// read from the element's one walk.
func (c *compiler) elemPath(p string) (pathSpec, error) {
	comps, err := checkPath(p)
	ps := pathSpec{raw: p, path: p, prefix: -1, slot: -1}
	if err != nil || len(comps) != 1 {
		return ps, err
	}
	slot, ok := c.m.elemSlot[comps[0]]
	if !ok {
		slot = len(c.m.elemSlot)
		c.m.elemSlot[comps[0]] = slot
	}
	ps.key, ps.slot = comps[0], slot
	return ps, nil
}

// prefixIndex returns the index of the object at comps, adding it.
func (c *compiler) prefixIndex(comps []string) int {
	if len(comps) == 0 {
		return 0
	}
	id := strings.Join(comps, "\x00")
	if i, ok := c.prefixOf[id]; ok {
		return i
	}
	parent := c.prefixIndex(comps[:len(comps)-1])
	c.m.prefixes = append(c.m.prefixes, prefix{parent: parent, key: comps[len(comps)-1]})
	c.m.consumed = append(c.m.consumed, map[string]bool{})
	c.m.keySlot = append(c.m.keySlot, map[string]int{})
	i := len(c.m.prefixes) - 1
	c.prefixOf[id] = i
	return i
}

// knownModifiers are gjson's built-in modifiers.
var knownModifiers = []string{"this", "valid", "pretty", "ugly", "reverse", "flatten", "join", "keys", "values", "tostr", "fromstr", "group", "dig"}

// checkPath validates a gjson path. For a simple path (object keys only:
// no wildcard, array query, modifier or multipath) it returns its unescaped
// components; for any other valid path, nil.
func checkPath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	sc := pathScan{p: p, simple: true, start: true}
	for i := 0; i < len(p); i++ {
		var err error
		if i, err = sc.step(i); err != nil {
			return nil, err
		}
	}
	switch {
	case sc.quote:
		return nil, fmt.Errorf("path %q: unterminated string", p)
	case sc.depth != 0:
		return nil, fmt.Errorf("path %q: unbalanced brackets", p)
	case sc.start:
		return nil, fmt.Errorf("path %q: empty key", p)
	}
	if !sc.simple {
		return nil, gjsonValid(p)
	}
	return append(sc.comps, string(sc.cur)), nil
}

// pathScan is checkPath's state as it reads a path byte by byte.
type pathScan struct {
	p      string
	comps  []string
	cur    []byte
	simple bool
	depth  int
	quote  bool
	start  bool // at the start of a component
}

// step reads p[i], and the byte after it when it is a backslash, and
// returns the index of the last byte it read.
func (sc *pathScan) step(i int) (int, error) {
	p, ch := sc.p, sc.p[i]
	if ch == '\\' {
		if i+1 >= len(p) {
			return i, fmt.Errorf("path %q ends in a backslash", p)
		}
		sc.cur = append(sc.cur, p[i+1])
		sc.start = false
		return i + 1, nil
	}
	if sc.quote {
		if ch == '"' {
			sc.quote = false
		}
		sc.cur = append(sc.cur, ch)
		return i, nil
	}
	if sc.start && ch == '@' {
		j := i + 1
		for j < len(p) && (p[j] >= 'a' && p[j] <= 'z') {
			j++
		}
		if !slices.Contains(knownModifiers, p[i+1:j]) {
			return i, fmt.Errorf("path %q: unknown modifier @%s", p, p[i+1:j])
		}
	}
	sc.start = false
	switch ch {
	case '"':
		sc.quote, sc.simple = true, false
	case '(', '[', '{':
		sc.depth++
		sc.simple = false
	case ')', ']', '}':
		if sc.depth--; sc.depth < 0 {
			return i, fmt.Errorf("path %q: unbalanced %q", p, ch)
		}
	case '*', '?', '#', '@', '!', '=', '<', '>', '%', ',':
		sc.simple = false
	case '|':
		sc.simple = false
		sc.start = sc.depth == 0
	case '.':
		if sc.depth == 0 {
			if len(sc.cur) == 0 && (i == 0 || !strings.ContainsRune(")]}", rune(p[i-1]))) {
				return i, fmt.Errorf("path %q: empty key", p)
			}
			sc.comps = append(sc.comps, string(sc.cur))
			sc.cur, sc.start = sc.cur[:0], true
			return i, nil
		}
	}
	sc.cur = append(sc.cur, ch)
	return i, nil
}

func autoTypeOfTag(tag string) valueType {
	switch tag {
	case "!!int":
		return typeInt
	case "!!float":
		return typeFloat
	case "!!bool":
		return typeBool
	}
	return typeString
}

func typeName(t valueType) string {
	for k, v := range typeNames {
		if v == t {
			return k
		}
	}
	return "?"
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// gjsonValid is a last guard: gjson must evaluate the path without panic.
func gjsonValid(p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("path %q: gjson cannot evaluate it", p)
		}
	}()
	gjson.Get(`{"a":[{"b":1}]}`, p)
	return nil
}
