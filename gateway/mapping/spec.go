package mapping

// The spec is a mapping file as written: the language, typed, with the
// line of every value, and nothing resolved yet. decode.go reads it from
// YAML (reporting what is not the right shape); compile.go turns it into
// a Mapping and its plan (reporting what does not make sense).

// scalar is one written value.
type scalar struct {
	val  string
	tag  string // the YAML tag, for a default's auto type
	line int
	// ok is false for a value written as a list or mapping where one
	// value belongs (already reported); val is then "".
	ok bool
}

// list is a value or a list of values; items holds the single values.
type list struct {
	line  int
	items []scalar
}

// fileSpec is one mapping file.
type fileSpec struct {
	events, identity, required, rest *list
	rateKey                          *scalar
	pairs                            *pairsSrc
	fields                           *targetsSrc // nil: no fields section
	groupBy                          *groupSrc
	auth                             *authSrc
	respond                          *respondSrc
}

// pairsSrc is the pairs section.
type pairsSrc struct {
	line             int
	path, key, value *scalar
}

// targetsSrc is a mapping of targets: the fields section, or the fields
// of assets.
type targetsSrc struct {
	line    int
	mapping bool // written as a mapping
	targets []targetSrc
}

// targetSrc is one target: a path or list of paths, or the long form.
type targetSrc struct {
	name scalar // the target as written
	line int    // the line of its value
	// long is set for the long form; paths is the short form's paths or
	// the long form's path.
	long bool
	// pathsLine is the line of the paths, 0 when none were written.
	pathsLine                      int
	paths                          *list
	from, typ, def, required, each *scalar
	transforms                     *list
	// written holds the line of every long-form key written, for the
	// keys that do not apply to a target.
	written map[string]int
	fields  *targetsSrc // assets: the element targets
}

// groupSrc is the group_by section.
type groupSrc struct {
	line            int
	each, key, join *scalar
	// fields is nil when group_by has no mapping of fields.
	fields []groupFieldSrc
}

// groupFieldSrc is one suffix of group_by and its element path.
type groupFieldSrc struct{ suffix, path scalar }

// authSrc is the auth section: its values by key.
type authSrc struct {
	line int
	keys map[string]*scalar
}

// respondSrc is the respond section.
type respondSrc struct {
	line                 int
	mapping              bool
	destination, timeout *scalar
}
