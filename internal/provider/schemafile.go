package provider

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/intelgate/intelgate/internal/regfile"
)

// MaxSchemaFileSize bounds a schema_file (and every file it references):
// response schemas are a few KiB.
const MaxSchemaFileSize = 4 << 20

// schemaLoader loads a schema_file and the files its $refs name through
// regfile, so a FIFO or device named as a schema fails at once instead of
// hanging config validate and serve. The library's own file loader uses
// os.Open. Only file: URLs without a host load — a schema never reaches
// the network — and only below the schema_file's own directory: a $ref is
// not a way to read, and echo in a parse error, any file the gateway can
// read (a key file, say).
func schemaLoader(schemaFile string) (jsonschema.URLLoader, error) {
	abs, err := filepath.Abs(schemaFile)
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	return jsonschema.SchemeURLLoader{"file": regularFileLoader{root: root}}, nil
}

type regularFileLoader struct{ root string }

func (l regularFileLoader) Load(raw string) (any, error) {
	if u, err := url.Parse(raw); err != nil || (u.Host != "" && u.Host != "localhost") {
		return nil, errors.New("a $ref may name only a local file (file:///…), not a host")
	}
	path, err := jsonschema.FileLoader{}.ToFile(raw)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", filepath.Base(path), err)
	}
	if rel, err := filepath.Rel(l.root, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%s is outside the schema_file's directory; a $ref may name only files below it", filepath.Base(path))
	}
	data, _, err := regfile.Read(real, MaxSchemaFileSize)
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		// The parser's message quotes the offending character: say where,
		// not what, in case the file was not meant to be read.
		return nil, fmt.Errorf("%s is not valid JSON", filepath.Base(path))
	}
	return v, nil
}
