// Package preset holds the provider presets: complete kind: http provider
// descriptions of the threat-intelligence APIs teams pay for, written once
// from each vendor's public documentation and embedded in the binary.
//
// A preset is a YAML file of provider fields (presets/NAME.yaml), its
// response schema (presets/NAME.schema.json), and two blocks that are not
// provider fields: preset_info (vendor, documentation pages, what the docs
// do not say) and tiers (the fields that differ between the vendor's free
// and paid plans, usually limits). Expand merges a user's provider block
// over a preset at the YAML level, before the config is decoded, so every
// field of a preset can be overridden and an override is checked exactly
// like any other config field, with its path in the error.
package preset

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed presets
var files embed.FS

// Tiers every preset offers; Free is the default, as the cheaper mistake:
// a paid key paced at free-tier limits loses speed, a free key paced at
// paid limits earns 429s and, at some vendors, a suspended key.
const (
	Free = "free"
	Paid = "paid"
)

// Info is what a preset says about itself, for docs and GET /v1/providers.
type Info struct {
	Name       string   `yaml:"-" json:"name"`
	Vendor     string   `yaml:"vendor" json:"vendor"`
	Title      string   `yaml:"title" json:"title"`
	Docs       []string `yaml:"docs" json:"docs"`
	NotPublic  []string `yaml:"not_public" json:"not_public,omitempty"`
	DefaultTLP string   `yaml:"default_tlp" json:"default_tlp"`
	DefaultPAP string   `yaml:"default_pap" json:"default_pap"`
	TLPNote    string   `yaml:"tlp_note" json:"tlp_note,omitempty"`
}

// Preset is one parsed preset file.
type Preset struct {
	Info Info
	// base holds the provider fields, tiers the per-tier overrides, both
	// with their line numbers cleared (see strip).
	base  *yaml.Node
	tiers map[string]*yaml.Node
	// schemaName is the schema_file the preset names, inside presets/.
	schemaName string
	schema     []byte
}

// Schema returns the preset's embedded JSON Schema and its file name.
func (p *Preset) Schema() (name string, data []byte) { return p.schemaName, p.schema }

var (
	loadOnce sync.Once
	all      map[string]*Preset
	loadErr  error
)

// load parses every embedded preset once. A broken preset file is a build
// defect, caught by the package's tests; at run time it is reported as a
// config error rather than a panic.
func load() (map[string]*Preset, error) {
	loadOnce.Do(func() { all, loadErr = parseAll(files) })
	return all, loadErr
}

func parseAll(fsys fs.FS) (map[string]*Preset, error) {
	names, err := fs.Glob(fsys, "presets/*.yaml")
	if err != nil {
		return nil, err
	}
	m := make(map[string]*Preset, len(names))
	for _, path := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "presets/"), ".yaml")
		data, err := fs.ReadFile(fsys, path)
		if err != nil {
			return nil, fmt.Errorf("preset %q: %w", name, err)
		}
		p, err := parse(name, data)
		if err != nil {
			return nil, fmt.Errorf("preset %q: %w", name, err)
		}
		if p.schemaName != "" {
			if p.schema, err = fs.ReadFile(fsys, "presets/"+p.schemaName); err != nil {
				return nil, fmt.Errorf("preset %q: schema_file: %w", name, err)
			}
		}
		m[name] = p
	}
	return m, nil
}

func parse(name string, data []byte) (*Preset, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("must be one mapping")
	}
	root := doc.Content[0]
	p := &Preset{tiers: map[string]*yaml.Node{}}
	if n := take(root, "preset_info"); n == nil {
		return nil, errors.New("preset_info: required")
	} else if err := n.Decode(&p.Info); err != nil {
		return nil, fmt.Errorf("preset_info: %w", err)
	}
	p.Info.Name = name
	if len(p.Info.Docs) == 0 {
		return nil, errors.New("preset_info.docs: cite at least one vendor documentation page")
	}
	tiers := take(root, "tiers")
	if tiers == nil || tiers.Kind != yaml.MappingNode {
		return nil, errors.New("tiers: required, a mapping with free and paid")
	}
	for i := 0; i+1 < len(tiers.Content); i += 2 {
		p.tiers[tiers.Content[i].Value] = strip(tiers.Content[i+1])
	}
	for _, t := range []string{Free, Paid} {
		if p.tiers[t] == nil {
			return nil, fmt.Errorf("tiers.%s: required", t)
		}
	}
	if n := take(root, "schema_file"); n != nil {
		p.schemaName = n.Value
		if strings.ContainsAny(p.schemaName, `/\`) {
			return nil, errors.New("schema_file: a file name inside presets/")
		}
	}
	for _, k := range []string{"preset", "tier", "keys"} {
		if lookup(root, k) != nil {
			return nil, fmt.Errorf("%s: a preset cannot set it (the user's block does)", k)
		}
	}
	p.base = strip(root)
	return p, nil
}

// strip clears line numbers in a preset's nodes: a config error in a field
// that came from a preset must not point at a line of the user's file.
func strip(n *yaml.Node) *yaml.Node {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		strip(c)
	}
	return n
}

// take removes key from mapping m and returns its value (nil if absent).
func take(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			m.Content = slices.Delete(m.Content, i, i+2)
			return v
		}
	}
	return nil
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Names returns the known preset names, sorted.
func Names() []string {
	m, _ := load()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Get returns the named preset.
func Get(name string) (*Preset, error) {
	m, err := load()
	if err != nil {
		return nil, err
	}
	p, ok := m[name]
	if !ok {
		return nil, &UnknownError{Name: name}
	}
	return p, nil
}

// UnknownError is an unknown preset name; its message lists the known ones.
type UnknownError struct{ Name string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown preset %q (known: %s)", e.Name, strings.Join(Names(), ", "))
}

// Expanded is a user's provider block merged over its preset.
type Expanded struct {
	Node *yaml.Node
	// Preset is the preset expanded, for its schema and info.
	Preset *Preset
	// OwnSchema is true when the user's block names its own schema_file,
	// which then replaces the preset's.
	OwnSchema bool
}

// Expand merges user, a provider's mapping node that names a preset,
// over that preset and the tier it names (default free). The user's node
// is not changed. Errors name the field (preset, tier) at fault.
func Expand(user *yaml.Node) (Expanded, error) {
	if user == nil || user.Kind != yaml.MappingNode {
		return Expanded{}, errors.New("not a mapping")
	}
	name := lookup(user, "preset")
	if name == nil || name.Kind != yaml.ScalarNode || name.Value == "" {
		return Expanded{}, &FieldError{Field: "preset", Msg: "must be a preset name"}
	}
	p, err := Get(name.Value)
	if err != nil {
		return Expanded{}, &FieldError{Field: "preset", Msg: err.Error()}
	}
	tier := Free
	if t := lookup(user, "tier"); t != nil {
		if t.Kind != yaml.ScalarNode || p.tiers[t.Value] == nil {
			return Expanded{}, &FieldError{Field: "tier", Msg: fmt.Sprintf("must be %s or %s", Free, Paid)}
		}
		tier = t.Value
	}
	if k := lookup(user, "kind"); k != nil && k.Value != "http" {
		return Expanded{}, &FieldError{Field: "kind", Msg: fmt.Sprintf("a preset is a kind http provider, not %q (leave kind out)", k.Value)}
	}
	merged := merge(clone(p.base), clone(p.tiers[tier]))
	merged = merge(merged, user)
	return Expanded{Node: merged, Preset: p, OwnSchema: lookup(user, "schema_file") != nil}, nil
}

// FieldError is a problem with one field of the user's provider block.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// merge lays over on base: mappings merge key by key (a null value in
// over deletes the key), anything else in over replaces what base has. A
// mapping in over laid on a scalar or list replaces it too, so a wrong
// type in an override reaches the decoder, which names the field.
func merge(base, over *yaml.Node) *yaml.Node {
	if over.Kind == yaml.AliasNode && over.Alias != nil {
		over = over.Alias
	}
	if base == nil || base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: base.Tag, Line: over.Line, Column: over.Column}
	out.Content = append(out.Content, base.Content...)
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		at := -1
		for j := 0; j+1 < len(out.Content); j += 2 {
			if out.Content[j].Value == k.Value {
				at = j
				break
			}
		}
		switch {
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" && at >= 0:
			out.Content = slices.Delete(out.Content, at, at+2)
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		case at >= 0:
			// The user's key node replaces the preset's, so the decoder
			// records the user's line for the field.
			out.Content[at], out.Content[at+1] = k, merge(out.Content[at+1], v)
		default:
			out.Content = append(out.Content, k, v)
		}
	}
	return out
}

// clone copies a node tree, so that merges never change a preset.
func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = clone(k)
	}
	return &c
}
