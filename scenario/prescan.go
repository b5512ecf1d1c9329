package scenario

import (
	"fmt"
)

// prescan bounds what the YAML parser is given, in one pass over the bytes
// and before it runs: the parser's time and memory grow faster than
// linearly with nesting depth and with the keys of one mapping, so a small
// hostile file could take gigabytes and minutes. It reads the block
// structure from indentation (a "- " is a level of its own) and flow
// collections from brackets, skipping quoted scalars, block scalars and
// comments. It may count a level or a key too many on odd input (a plain
// scalar continued on a deeper line), never so few that the parser is at
// risk; the walk over the parsed document (checkAliasExpansion) then
// checks depth and keys exactly.
func prescan(data []byte) *Error {
	if len(data) > MaxFileBytes {
		line, col := position(data, MaxFileBytes)
		return &Error{Line: line, Column: col, Msg: fmt.Sprintf(
			"expected a scenario file of at most %s, and this one is larger: %s", limitFileSize, limitFileSize.Why)}
	}
	s := scanner{data: data, line: 1}
	return s.run()
}

// position is the line and column of byte offset off.
func position(data []byte, off int) (line, col int) {
	line, col = 1, 1
	for _, c := range data[:min(off, len(data))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

type level struct {
	col  int // column of the level's entries
	keys int // keys seen at that column (not "- " items)
}

type flowLevel struct {
	mapping bool
	keys    int
}

type scanner struct {
	data  []byte
	i     int // offset of the next byte
	line  int
	start int // offset where the current line starts

	block []level     // open block levels, innermost last
	flow  []flowLevel // open flow collections, innermost last
	// quote is the open quote character of a scalar spanning lines, or 0.
	quote byte
	// scalarIndent >= 0 while inside a block scalar (| or >): lines more
	// indented than it belong to the scalar.
	scalarIndent int
}

func (s *scanner) col() int { return s.i - s.start + 1 }

func (s *scanner) fail(msg string, args ...any) *Error {
	return &Error{Line: s.line, Column: s.col(), Msg: fmt.Sprintf(msg, args...)}
}

func (s *scanner) depthError() *Error {
	return s.fail("%s", expectedAtMost(limitDepth, "levels of nesting"))
}

func (s *scanner) keysError() *Error {
	return s.fail("%s", expectedAtMost(limitKeys, "keys in one mapping"))
}

func (s *scanner) run() *Error {
	s.scalarIndent = -1
	for s.i < len(s.data) {
		if err := s.scanLine(); err != nil {
			return err
		}
	}
	return nil
}

// scanLine reads one line, from s.i, and moves past its end.
func (s *scanner) scanLine() *Error {
	s.start = s.i
	indent := 0
	for s.i < len(s.data) && s.data[s.i] == ' ' {
		s.i++
		indent++
	}
	atEnd := s.i >= len(s.data) || s.data[s.i] == '\n' || s.data[s.i] == '\r'
	if s.scalarIndent >= 0 {
		if atEnd || indent > s.scalarIndent {
			s.skipLine()
			return nil
		}
		s.scalarIndent = -1
	}
	if atEnd || (s.quote == 0 && s.data[s.i] == '#') {
		s.skipLine()
		return nil
	}
	if s.quote == 0 && len(s.flow) == 0 {
		// Block structure: the line's entry, then one more per "- ".
		if err := s.enter(indent); err != nil {
			return err
		}
		for s.i < len(s.data) && s.data[s.i] == '-' && (s.i+1 >= len(s.data) || isBlank(s.data[s.i+1])) {
			s.i++
			for s.i < len(s.data) && s.data[s.i] == ' ' {
				s.i++
			}
			if s.i >= len(s.data) || s.data[s.i] == '\n' || s.data[s.i] == '#' {
				break
			}
			if err := s.enter(s.col() - 1); err != nil {
				return err
			}
		}
	}
	return s.scanContent(indent)
}

// enter opens, or continues, the block level at column col, whose entry
// starts at s.i: a mapping key unless it is a "- " item.
func (s *scanner) enter(col int) *Error {
	for len(s.block) > 0 && s.block[len(s.block)-1].col > col {
		s.block = s.block[:len(s.block)-1]
	}
	if len(s.block) == 0 || s.block[len(s.block)-1].col < col {
		s.block = append(s.block, level{col: col})
		if len(s.block) > MaxDepth {
			return s.depthError()
		}
	}
	isKey := !(s.i < len(s.data) && s.data[s.i] == '-' && (s.i+1 >= len(s.data) || isBlank(s.data[s.i+1])))
	if isKey {
		top := &s.block[len(s.block)-1]
		top.keys++
		if top.keys > MaxMappingKeys {
			return s.keysError()
		}
	}
	return nil
}

// scanContent reads the rest of the line: quoted scalars, flow
// collections, comments, and a block scalar's indicator.
func (s *scanner) scanContent(indent int) *Error {
	valueStart := true // a scalar or collection may start here
	for s.i < len(s.data) {
		c := s.data[s.i]
		if c == '\n' {
			s.i++
			s.line++
			return nil
		}
		if s.quote != 0 {
			s.scanQuoted()
			valueStart = false
			continue
		}
		switch {
		case c == '#' && (s.i == s.start || isBlank(s.data[s.i-1])):
			s.skipLine()
			return nil
		case valueStart && (c == '&' || c == '!' || c == '*'):
			// An anchor, tag or alias: the value, if any, starts after it.
			for s.i < len(s.data) && !isBlank(s.data[s.i]) && (len(s.flow) == 0 || !isFlowEnd(s.data[s.i])) {
				s.i++
			}
			continue
		case valueStart && (c == '"' || c == '\''):
			s.quote = c
			s.i++
			continue
		case valueStart && (c == '|' || c == '>') && len(s.flow) == 0:
			s.scalarIndent = indent
			s.skipLine()
			return nil
		case c == '[' || c == '{':
			if valueStart || len(s.flow) > 0 {
				s.flow = append(s.flow, flowLevel{mapping: c == '{'})
				if len(s.block)+len(s.flow) > MaxDepth {
					return s.depthError()
				}
				s.i++
				valueStart = true
				continue
			}
		case (c == ']' || c == '}') && len(s.flow) > 0:
			s.flow = s.flow[:len(s.flow)-1]
		case c == ',' && len(s.flow) > 0:
			if top := &s.flow[len(s.flow)-1]; top.mapping {
				top.keys++
				if top.keys >= MaxMappingKeys {
					return s.keysError()
				}
			}
			s.i++
			valueStart = true
			continue
		case c == ':' && (s.i+1 >= len(s.data) || isBlank(s.data[s.i+1]) || (len(s.flow) > 0 && isFlowEnd(s.data[s.i+1]))):
			s.i++
			valueStart = true
			continue
		case c == '-' && valueStart && (s.i+1 >= len(s.data) || isBlank(s.data[s.i+1])):
			s.i++
			continue
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
			continue
		}
		valueStart = false
		s.i++
	}
	return nil
}

// scanQuoted moves through a quoted scalar, to past its closing quote or
// to the end of the line (it goes on on the next).
func (s *scanner) scanQuoted() {
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '\n':
			return
		case s.quote == '"' && c == '\\' && s.i+1 < len(s.data) && s.data[s.i+1] != '\n':
			s.i += 2
			continue
		case c == s.quote && s.quote == '\'' && s.i+1 < len(s.data) && s.data[s.i+1] == '\'':
			s.i += 2
			continue
		case c == s.quote:
			s.i++
			s.quote = 0
			return
		}
		s.i++
	}
}

func (s *scanner) skipLine() {
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		s.i++
	}
	if s.i < len(s.data) {
		s.i++
		s.line++
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isFlowEnd(c byte) bool { return c == ',' || c == ']' || c == '}' }
