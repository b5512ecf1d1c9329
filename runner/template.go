package runner

import (
	"encoding/hex"
	"net/url"
	"strconv"
	"time"

	"github.com/ilities/ilities/scenario"
)

// Rendering: a compiled template (scenario/template.go) is a list of
// literal and value parts; rendering appends each to a reused buffer, so
// a request with placeholders costs its values and nothing is parsed.

// escaping is how a value is written where it lands.
type escaping uint8

const (
	escapeNone   escaping = iota // a body: as it is
	escapePath                   // a path: a path segment, or a query component after '?'
	escapeHeader                 // a header value: without CR, LF and NUL, which would end the field
)

// appendTemplate renders t into b with u's values.
func (u *userData) appendTemplate(b []byte, t *scenario.Template, esc escaping) []byte {
	for i := range t.Parts {
		p := &t.Parts[i]
		if p.Kind == scenario.TemplateLiteral {
			b = append(b, p.Text...)
			continue
		}
		switch esc {
		case escapeNone:
			b = u.appendValue(b, p)
		case escapePath:
			u.text = u.appendValue(u.text[:0], p)
			if p.InQuery {
				b = append(b, url.QueryEscape(string(u.text))...)
			} else {
				b = append(b, url.PathEscape(string(u.text))...)
			}
		case escapeHeader:
			start := len(b)
			b = u.appendValue(b, p)
			b = dropLineBreaks(b, start)
		}
	}
	return b
}

// appendValue appends the value of one non-literal part.
func (u *userData) appendValue(b []byte, p *scenario.TemplatePart) []byte {
	switch p.Kind {
	case scenario.TemplateField:
		if row := u.rows[p.Source]; p.Field < len(row) {
			return append(b, row[p.Field]...)
		}
	case scenario.TemplateVariable:
		return append(b, u.vars[p.Var]...)
	case scenario.TemplateUserID:
		return strconv.AppendInt(b, u.userID, 10)
	case scenario.TemplateIteration:
		return strconv.AppendInt(b, u.iteration, 10)
	case scenario.TemplateRandom:
		span := uint64(p.Max-p.Min) + 1
		if span == 0 { // the whole int64 range
			return strconv.AppendInt(b, int64(u.rng.Uint64()), 10)
		}
		return strconv.AppendInt(b, p.Min+int64(u.rng.Uint64N(span)), 10)
	case scenario.TemplateUUID:
		return appendUUID(b, u.rng.Uint64(), u.rng.Uint64())
	case scenario.TemplateTimestamp:
		return strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	}
	return b
}

// appendUUID writes a version 4 UUID made of hi and lo (RFC 9562).
func appendUUID(b []byte, hi, lo uint64) []byte {
	var raw [16]byte
	for i := range 8 {
		raw[i] = byte(hi >> (56 - 8*i))
		raw[8+i] = byte(lo >> (56 - 8*i))
	}
	raw[6] = raw[6]&0x0f | 0x40 // version 4
	raw[8] = raw[8]&0x3f | 0x80 // variant 10
	var text [36]byte
	hex.Encode(text[0:8], raw[0:4])
	text[8] = '-'
	hex.Encode(text[9:13], raw[4:6])
	text[13] = '-'
	hex.Encode(text[14:18], raw[6:8])
	text[18] = '-'
	hex.Encode(text[19:23], raw[8:10])
	text[23] = '-'
	hex.Encode(text[24:], raw[10:])
	return append(b, text[:]...)
}

// dropLineBreaks removes CR, LF and NUL from b[start:].
func dropLineBreaks(b []byte, start int) []byte {
	out := start
	for _, c := range b[start:] {
		if c != '\r' && c != '\n' && c != 0 {
			b[out] = c
			out++
		}
	}
	return b[:out]
}
