package http1

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestParseContentLength(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"007", 7, true},
		{"999999999999999999", 999999999999999999, true},
		{"1000000000000000000", 0, false}, // 19 digits could overflow
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1 2", 0, false},
		{"4, 4", 0, false},
		{"0x10", 0, false},
	}
	for _, tc := range cases {
		if got, ok := parseContentLength([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	cases := []struct {
		line            string
		strict, lenient int64 // -1: refused
	}{
		{"a\r\n", 10, 10},
		{"FF\r\n", 255, 255},
		{"0\r\n", 0, 0},
		{"5;name=value\r\n", 5, 5},
		{"5 ;name\r\n", 5, 5},
		{"fffffffffffffff\r\n", 1<<60 - 1, 1<<60 - 1},
		{"1000000000000000\r\n", -1, -1}, // 16 digits could overflow
		{"\r\n", -1, -1},
		{"g\r\n", -1, -1},
		{"-1\r\n", -1, -1},
		{"5\n", -1, 5},
		{"5;a\x01b\r\n", -1, 5},
		{"5\r\r\n", -1, 5},
	}
	for _, tc := range cases {
		for _, lenient := range []bool{false, true} {
			want := tc.strict
			if lenient {
				want = tc.lenient
			}
			got, err := parseChunkSize([]byte(tc.line), lenient)
			if err != nil {
				got = -1
				if err != ErrMalformedChunk {
					t.Errorf("%q: %v", tc.line, err)
				}
			}
			if got != want {
				t.Errorf("%q (lenient %v): %d, want %d", tc.line, lenient, got, want)
			}
		}
	}
}

// A chunked body's limits: data bytes, trailer bytes, the length of a
// framing line, in the event loop's way (Next) and the blocking way
// (NextFrom, bounded by the reader's buffer).
func TestChunkedLimits(t *testing.T) {
	cases := []struct {
		name  string
		rules Rules
		in    string
		want  error
	}{
		{"within MaxBody", Rules{MaxBody: 6}, "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", nil},
		{"past MaxBody", Rules{MaxBody: 5}, "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", ErrBodyTooLarge},
		{"trailers within MaxHead", Rules{MaxHead: 17}, "0\r\nX-A: 12345678\r\n\r\n", nil},
		{"trailers past MaxHead", Rules{MaxHead: 16}, "0\r\nX-A: 12345678\r\n\r\n", ErrHeadTooLarge},
		{"trailer line with a bare LF", Rules{}, "0\r\nX-A: 1\n\r\n", ErrMalformedChunk},
		{"trailer line with a bare LF, lenient", Rules{Lenient: true}, "0\r\nX-A: 1\n\n", nil},
		{"chunk not followed by CRLF", Rules{}, "3\r\nabcX\r\n0\r\n\r\n", ErrMalformedChunk},
		{"chunk followed by a bare LF, lenient", Rules{Lenient: true}, "3\r\nabc\n0\r\n\r\n", nil},
		{"size line within MaxLine", Rules{MaxLine: 16}, "3;" + strings.Repeat("e", 12) + "\r\nabc\r\n0\r\n\r\n", nil},
		{"size line past MaxLine", Rules{MaxLine: 16}, "3;" + strings.Repeat("e", 13) + "\r\nabc\r\n0\r\n\r\n", ErrLineTooLong},
		{"ends early", Rules{}, "3\r\nab", io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d BodyReader
			d.Reset(ChunkedBody, 0, tc.rules)
			b := []byte(tc.in)
			var err error
			for !d.Done() && err == nil {
				var n int
				n, _, err = d.Next(b, true)
				b = b[n:]
			}
			if err != tc.want {
				t.Errorf("Next: %v, want %v", err, tc.want)
			}
			d.Reset(ChunkedBody, 0, tc.rules)
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			for err = nil; !d.Done() && err == nil; {
				_, err = d.NextFrom(br)
			}
			if err != tc.want {
				t.Errorf("NextFrom: %v, want %v", err, tc.want)
			}
		})
	}
	// A line longer than the reader's buffer cannot be read whole.
	var d BodyReader
	d.Reset(ChunkedBody, 0, Rules{})
	br := bufio.NewReaderSize(strings.NewReader("3;"+strings.Repeat("e", 20)+"\r\nabc\r\n0\r\n\r\n"), 16)
	if _, err := d.NextFrom(br); err != ErrLineTooLong {
		t.Errorf("a size line longer than the buffer: %v", err)
	}
}

// A proxy passing a chunked body on re-chunks it as it came: each chunk's
// size where its size line was, its line end after its data, however the
// bytes arrive.
func TestChunkBoundaries(t *testing.T) {
	in := "5;ext=1\r\nhello\r\n1\r\n,\r\n14\r\n" + strings.Repeat("w", 20) + "\r\n0\r\nX-Trailer: t\r\n\r\n"
	want := "5\r\nhello\r\n1\r\n,\r\n14\r\n" + strings.Repeat("w", 20) + "\r\n0\r\n\r\n"
	for _, size := range []int{16, 64, 4096} {
		var d BodyReader
		d.Reset(ChunkedBody, 0, Rules{})
		br := bufio.NewReaderSize(iotestOneByte(in), size)
		var out []byte
		for !d.Done() {
			data, err := d.NextFrom(br)
			if err != nil {
				t.Fatalf("buffer %d: %v", size, err)
			}
			if n, begun := d.ChunkBegun(); begun {
				out = append(strconv.AppendInt(out, n, 16), "\r\n"...)
			}
			out = append(out, data...)
			if len(data) > 0 && d.ChunkEnded() {
				out = append(out, "\r\n"...)
			}
		}
		out = append(out, "0\r\n\r\n"...)
		if string(out) != want {
			t.Errorf("buffer %d: re-chunked\n%q\nwant\n%q", size, out, want)
		}
	}
}

// iotestOneByte reads s a byte at a time, as a slow connection delivers.
func iotestOneByte(s string) io.Reader { return &oneByte{s: s} }

type oneByte struct{ s string }

func (r *oneByte) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], r.s = r.s[0], r.s[1:]
	return 1, nil
}
