package scenario

import (
	"context"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// decodeGuarded decodes node into v with dec, turning a panic inside the
// YAML library (some malformed inputs, such as a tag on an empty sequence
// entry, crash it) into an ordinary decode error, so hostile input is
// rejected rather than taking the process down.
func decodeGuarded(ctx context.Context, dec *yaml.Decoder, node ast.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML could not be decoded (%v); check tags (!...), anchors and indentation", r)
		}
	}()
	return dec.DecodeFromNodeContext(ctx, node, v)
}
