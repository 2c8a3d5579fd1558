package config

import (
	"reflect"
	"slices"
	"strings"
)

// yamlFields maps the yaml keys of struct type t to their field indexes,
// for the decoder. A field tagged ",inline" brings its own keys in: a
// destination's policy.Delivery is decoded in place, not copied from
// fields of config's own.
func yamlFields(t reflect.Type, at []int, fields map[string][]int) {
	for i := range t.NumField() {
		f, index := t.Field(i), append(slices.Clone(at), i)
		switch name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ","); {
		case !f.IsExported() || name == "-":
		case name == "" && opts == "inline":
			yamlFields(f.Type, index, fields)
		case name != "":
			fields[name] = index
		}
	}
}
