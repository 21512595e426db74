package config

import (
	"encoding"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder maps a yaml.Node tree onto the config structs by reflection. It
// exists instead of yaml.Decoder.KnownFields because that stops at the first
// problem and names no field path; this one keeps going, records every
// problem with its path and line, and remembers where each field was written
// so later semantic checks can cite lines too.
type decoder struct {
	errs   ErrorList
	lines  map[string]int
	budget int // nodes left to visit: bounds alias expansion ("billion laughs")
}

// maxNodes is far above any real config and far below what hurts.
const maxNodes = 1 << 20

// defaulter is implemented by config types whose fresh values start from
// defaults, so that a field the file leaves out keeps its default while an
// explicit value — even zero — is kept and then judged by validation.
type defaulter interface{ setDefaults() }

func newDecoder() *decoder {
	return &decoder{lines: map[string]int{}, budget: maxNodes}
}

func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Field: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// decode stores n into v (settable). A null value leaves v as it is, which
// is its default.
func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.fail(path, n, "document too large (more than %d nodes after expanding aliases)", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		line := n.Line
		n = n.Alias
		d.lines[path] = line
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	if isNull(n) {
		return
	}
	if v.CanAddr() {
		switch u := v.Addr().Interface().(type) {
		case yaml.Unmarshaler:
			if err := u.UnmarshalYAML(n); err != nil {
				d.fail(path, n, "%s", err.Error())
			}
			return
		case encoding.TextUnmarshaler:
			if d.scalar(path, n) {
				if err := u.UnmarshalText([]byte(n.Value)); err != nil {
					d.fail(path, n, "invalid value: %v", err)
				}
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := newValue(v.Type().Elem())
		d.decode(path, n, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Map:
		d.decodeMap(path, n, v)
	case reflect.Slice:
		d.decodeSlice(path, n, v)
	case reflect.String:
		if d.scalar(path, n) {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		var b bool
		if d.scalar(path, n) && n.Decode(&b) != nil {
			d.fail(path, n, "must be true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if !d.scalar(path, n) {
			return
		}
		if n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(path, n, "must be a whole number, not %s", quote(n.Value))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if d.scalar(path, n) && n.Decode(&f) != nil {
			d.fail(path, n, "must be a number, not %s", quote(n.Value))
			return
		}
		v.SetFloat(f)
	default:
		// A config type this decoder does not know: a programming error,
		// caught by the tests that load every fixture.
		d.fail(path, n, "internal error: cannot decode into %s", v.Type())
	}
}

// newValue allocates a *T, starting from T's defaults when it has them.
func newValue(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if df, ok := p.Interface().(defaulter); ok {
		df.setDefaults()
	}
	return p
}

func (d *decoder) scalar(path string, n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		if name, ok := unquotedTemplate(n); ok {
			d.fail(path, n, "must be a single value: YAML reads an unquoted {%s} as a mapping; quote it: \"{%s}\"", name, name)
			return false
		}
		d.fail(path, n, "%v", errNotScalar)
		return false
	}
	return true
}

// unquotedTemplate reports whether n is what YAML makes of a template such
// as {indicator} written without quotes — a mapping of one key with no
// value — and returns the name. It is the likeliest mistake in a flow map
// (query: {ip: {indicator}}), and "not a mapping" alone does not say why.
func unquotedTemplate(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.MappingNode || n.Style&yaml.FlowStyle == 0 || len(n.Content) != 2 {
		return "", false
	}
	k, v := n.Content[0], n.Content[1]
	if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || v.ShortTag() != "!!null" || v.Value != "" {
		return "", false
	}
	return k.Value, ValidName(k.Value)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "a single value"
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "must be a mapping of settings, not %s", kindName(n))
		return
	}
	fields := yamlFields(v.Type())
	d.pairs(path, n, func(name, p string, key, val *yaml.Node) {
		idx, ok := fields[name]
		if !ok {
			d.fail(p, key, "unknown field %s%s", quote(name), suggest(name, fields))
			return
		}
		d.decode(p, val, v.Field(idx))
	})
}

func (d *decoder) decodeMap(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "must be a mapping of names, not %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	et := v.Type().Elem()
	d.pairs(path, n, func(name, p string, _, val *yaml.Node) {
		var elem reflect.Value
		if et.Kind() == reflect.Pointer {
			// A map entry always exists once named, even if empty, so
			// validation can say what it lacks.
			elem = newValue(et.Elem())
			d.decode(p, val, elem.Elem())
		} else {
			elem = reflect.New(et).Elem()
			d.decode(p, val, elem)
		}
		v.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
	})
}

// pairs walks a mapping's keys, refusing non-string and duplicate keys (the
// YAML parser accepts duplicates silently; a repeated provider name would
// otherwise hide the first definition).
func (d *decoder) pairs(path string, n *yaml.Node, each func(name, p string, key, val *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode || isNull(key) {
			d.fail(path, key, "keys must be plain names")
			continue
		}
		p := join(path, key.Value)
		if first, dup := seen[key.Value]; dup {
			d.fail(p, key, "defined twice (first on line %d)", first)
			continue
		}
		seen[key.Value] = key.Line
		d.lines[p] = key.Line
		each(key.Value, p, key, val)
	}
}

func (d *decoder) decodeSlice(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n, "must be a list, not %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
	}
	v.Set(s)
}

// yamlFields maps YAML names to field indexes for the exported, tagged
// fields of t.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		m[name] = i
	}
	return m
}

// suggest names the closest known field, for typos such as "listn".
func suggest(name string, fields map[string]int) string {
	names := slices.Sorted(maps.Keys(fields))
	best, bestDist := "", 3
	for _, f := range names {
		if dist := editDistance(name, f); dist < bestDist {
			best, bestDist = f, dist
		}
	}
	if best == "" {
		return " (known: " + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
