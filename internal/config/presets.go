package config

import (
	"errors"

	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/preset"
)

// expandPresets replaces, in the document root, every provider block that
// names a preset with that block merged over the preset (see
// internal/preset), before anything is decoded: an override is then
// decoded and validated like any field the user wrote, its path and line
// in the message. It returns the expansions by provider name, for their
// schemas, and the errors of blocks it could not expand.
func expandPresets(root *yaml.Node) (map[string]preset.Expanded, ErrorList) {
	provs := mappingValue(root, "providers")
	if provs == nil || provs.Kind != yaml.MappingNode {
		return nil, nil
	}
	var errs ErrorList
	out := map[string]preset.Expanded{}
	for i := 0; i+1 < len(provs.Content); i += 2 {
		name, block := provs.Content[i].Value, provs.Content[i+1]
		if mappingValue(block, "preset") == nil {
			continue
		}
		x, err := preset.Expand(block)
		if err != nil {
			fe := &FieldError{Field: "providers." + name, Line: block.Line, Msg: err.Error()}
			var pe *preset.FieldError
			if errors.As(err, &pe) {
				fe.Field, fe.Msg = fe.Field+"."+pe.Field, pe.Msg
				if n := mappingValue(block, pe.Field); n != nil {
					fe.Line = n.Line
				}
			}
			errs = append(errs, fe)
			continue
		}
		provs.Content[i+1] = x.Node
		out[name] = x
	}
	return out, errs
}

// applyPresetSchemas gives each expanded provider its preset's embedded
// schema, unless the user's block named a schema_file of its own.
func (c *Config) applyPresetSchemas(xs map[string]preset.Expanded) {
	for name, x := range xs {
		p := c.Providers[name]
		if p == nil || x.OwnSchema {
			continue
		}
		p.PresetSchemaName, p.PresetSchema = x.Preset.Schema()
	}
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
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
