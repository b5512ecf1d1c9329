package scenario

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// maxExpandedNodes bounds the size of a scenario's YAML once every alias
// is expanded. A real scenario has a few thousand nodes; an "alias bomb"
// (anchors that alias each other nine times per level) has billions and
// would take the decoder minutes and gigabytes.
const maxExpandedNodes = 1 << 20

// checkAliasExpansion rejects a document whose aliases expand past
// maxExpandedNodes, before anything expands them.
func checkAliasExpansion(root ast.Node) *Error {
	c := expansionCounter{anchors: map[string]int64{}}
	if n := c.size(root, 0); n > maxExpandedNodes {
		line, col := nodePos(c.culprit)
		if c.culprit == nil {
			line, col = 1, 1
		}
		return &Error{Line: line, Column: col, Msg: fmt.Sprintf(
			"the aliases (*name) in this file expand to more than %d values; a scenario needs far fewer (is it an alias bomb?)", maxExpandedNodes)}
	}
	return nil
}

type expansionCounter struct {
	anchors map[string]int64 // anchor name -> expanded size of its value
	culprit ast.Node         // the alias that crossed the bound
}

// size is the number of nodes under n with aliases expanded, saturating
// just past the bound.
func (c *expansionCounter) size(n ast.Node, depth int) int64 {
	if n == nil {
		return 0
	}
	if depth > 10000 {
		return maxExpandedNodes + 1
	}
	add := func(total, more int64) int64 {
		if total+more > maxExpandedNodes {
			return maxExpandedNodes + 1
		}
		return total + more
	}
	switch v := n.(type) {
	case *ast.DocumentNode:
		return c.size(v.Body, depth+1)
	case *ast.MappingNode:
		total := int64(1)
		for _, mv := range v.Values {
			total = add(total, c.size(mv, depth+1))
		}
		return total
	case *ast.MappingValueNode:
		return add(add(1, c.size(v.Key, depth+1)), c.size(v.Value, depth+1))
	case *ast.MappingKeyNode:
		return add(1, c.size(v.Value, depth+1))
	case *ast.SequenceNode:
		total := int64(1)
		for _, e := range v.Values {
			total = add(total, c.size(e, depth+1))
		}
		return total
	case *ast.TagNode:
		return add(1, c.size(v.Value, depth+1))
	case *ast.AnchorNode:
		s := c.size(v.Value, depth+1)
		if v.Name != nil {
			c.anchors[v.Name.String()] = s
		}
		return add(1, s)
	case *ast.AliasNode:
		s := int64(1)
		if v.Value != nil {
			s = add(s, c.anchors[v.Value.String()])
		}
		if s > maxExpandedNodes && c.culprit == nil {
			c.culprit = v
		}
		return s
	}
	return 1
}
