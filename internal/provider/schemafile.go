package provider

import (
	"bytes"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/intelgate/intelgate/internal/regfile"
)

// MaxSchemaFileSize bounds a schema_file (and every file it references):
// response schemas are a few KiB.
const MaxSchemaFileSize = 4 << 20

// schemaLoader loads a schema_file and the files its $refs name through
// regfile, so a FIFO or device named as a schema fails at once instead of
// hanging config validate and serve. The library's own file loader uses
// os.Open. Only file: URLs load: a schema never reaches the network.
var schemaLoader = jsonschema.SchemeURLLoader{"file": regularFileLoader{}}

type regularFileLoader struct{}

func (regularFileLoader) Load(url string) (any, error) {
	path, err := jsonschema.FileLoader{}.ToFile(url)
	if err != nil {
		return nil, err
	}
	data, _, err := regfile.Read(path, MaxSchemaFileSize)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(data))
}
