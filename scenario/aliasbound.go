package scenario

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// checkAliasExpansion checks the parsed document exactly against the
// bounds prescan estimated from the bytes (nesting depth, keys in one
// mapping), and its size once every alias is expanded (MaxValues), before
// anything expands them: an "alias bomb" (anchors that alias each other
// nine times per level) has billions of values and would take the decoder
// minutes and gigabytes. Each bound has its own message, at the node that
// crossed it.
func checkAliasExpansion(root ast.Node) *Error {
	c := expansionCounter{anchors: map[string]int64{}}
	n := c.size(root, 0)
	if c.err != nil {
		return c.err
	}
	if n > MaxValues {
		if c.culprit != nil {
			line, col := nodePos(c.culprit)
			return &Error{Line: line, Column: col, Msg: fmt.Sprintf(
				"expected at most %d values with the aliases (*name) expanded, and this alias takes the file past it (is it an alias bomb?): %s", MaxValues, limitValues.Why)}
		}
		if c.firstAlias != nil {
			line, col := nodePos(c.firstAlias)
			return &Error{Line: line, Column: col, Msg: fmt.Sprintf(
				"expected at most %d values with the aliases (*name) expanded, found more (the first alias is here): %s", MaxValues, limitValues.Why)}
		}
		return &Error{Line: 1, Column: 1, Msg: fmt.Sprintf(
			"expected at most %d values in the file, found more: %s", MaxValues, limitValues.Why)}
	}
	return nil
}

type expansionCounter struct {
	anchors    map[string]int64 // anchor name -> expanded size of its value
	culprit    ast.Node         // the alias that crossed the bound
	firstAlias ast.Node
	err        *Error // a depth or key-count bound crossed
}

func (c *expansionCounter) fail(n ast.Node, format string, args ...any) int64 {
	if c.err == nil {
		line, col := nodePos(n)
		c.err = &Error{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
	}
	return MaxValues + 1
}

// size is the number of nodes under n with aliases expanded, saturating
// just past the bound. depth is the number of mappings and lists around n.
func (c *expansionCounter) size(n ast.Node, depth int) int64 {
	if n == nil || c.err != nil {
		return 0
	}
	add := func(total, more int64) int64 {
		if total+more > MaxValues {
			return MaxValues + 1
		}
		return total + more
	}
	// The entries of a mapping or a list are one level below it.
	switch n.(type) {
	case *ast.MappingValueNode, *ast.SequenceNode:
		if depth+1 > MaxDepth {
			return c.fail(n, "%s", expectedAtMost(limitDepth, "levels of nesting"))
		}
	}
	switch v := n.(type) {
	case *ast.DocumentNode:
		return c.size(v.Body, depth)
	case *ast.MappingNode:
		if len(v.Values) > MaxMappingKeys {
			return c.fail(v.Values[MaxMappingKeys], "%s", expectedAtMost(limitKeys, "keys in one mapping"))
		}
		total := int64(1)
		for _, mv := range v.Values {
			total = add(total, c.size(mv, depth))
		}
		return total
	case *ast.MappingValueNode:
		return add(add(1, c.size(v.Key, depth)), c.size(v.Value, depth+1))
	case *ast.MappingKeyNode:
		return add(1, c.size(v.Value, depth))
	case *ast.SequenceNode:
		total := int64(1)
		for _, e := range v.Values {
			total = add(total, c.size(e, depth+1))
		}
		return total
	case *ast.TagNode:
		return add(1, c.size(v.Value, depth))
	case *ast.AnchorNode:
		s := c.size(v.Value, depth)
		if v.Name != nil {
			c.anchors[v.Name.String()] = s
		}
		return add(1, s)
	case *ast.AliasNode:
		if c.firstAlias == nil {
			c.firstAlias = v
		}
		s := int64(1)
		if v.Value != nil {
			s = add(s, c.anchors[v.Value.String()])
		}
		if s > MaxValues && c.culprit == nil {
			c.culprit = v
		}
		return s
	}
	return 1
}
