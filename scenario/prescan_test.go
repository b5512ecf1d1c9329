package scenario

import (
	"strings"
	"testing"
)

// TestPrescan: what prescan lets through and what it stops, on the shapes
// that could fool a scan of the bytes: quotes, block scalars, comments,
// anchors and tags before a collection, collections spanning lines.
func TestPrescan(t *testing.T) {
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, yaml, want string // want "" for accepted
	}{
		{"brackets in a quoted string", `x-a: "` + strings.Repeat("[", 100) + `"`, ""},
		{"brackets in a single-quoted string", `x-a: 'it''s ` + strings.Repeat("{", 100) + `'`, ""},
		{"a quoted string over lines", "x-a: \"one\n  " + strings.Repeat("[", 100) + "\n  two\"\nx-b: 1", ""},
		{"brackets in a plain string", "x-a: a" + strings.Repeat("[", 100), ""},
		{"brackets in a comment", "x-a: 1 # " + strings.Repeat("[", 100), ""},
		{"a block scalar", "x-a: |\n" + func() string {
			var b strings.Builder
			for i := range 100 {
				b.WriteString(strings.Repeat(" ", i+2) + "{[\n")
			}
			return b.String()
		}() + "x-b: 1", ""},
		{"flow at the bound", "x-a: " + nest("[", "]", MaxDepth-1), ""},
		{"flow past the bound", "x-a: " + nest("[", "]", MaxDepth), "levels of nesting"},
		{"flow after an anchor", "x-a: &a " + nest("[", "]", MaxDepth), "levels of nesting"},
		{"flow after a tag", "x-a: !t " + nest("{a: ", "}", MaxDepth), "levels of nesting"},
		{"flow over lines", "x-a: [\n" + strings.Repeat("  [\n", MaxDepth) + "]", "levels of nesting"},
		{"a list of lists", "x-a:\n" + strings.Repeat("- ", MaxDepth) + "1", "levels of nesting"},
		{"a long list is not keys", "x-a:\n" + strings.Repeat("- 1\n", 2*MaxMappingKeys), ""},
		{"a list at its key's column", "x-a:\n" + strings.Repeat("- {a: 1}\n", 2*MaxMappingKeys), ""},
		{"keys in a flow mapping", "x-a: {" + strings.Repeat("k: 1, ", MaxMappingKeys) + "k: 1}", "keys in one mapping"},
		{"an unterminated quote", "\"x-a: 1\nx-b: 2\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := prescan([]byte(tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Msg, tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			case err != nil && (err.Line < 1 || err.Column < 1):
				t.Fatalf("no position: %+v", err)
			}
		})
	}
}
