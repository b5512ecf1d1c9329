package report

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// EncodeHistogram writes what hdrhistogram's Encode writes, compressed
// apart: the same uncompressed V2 payload byte for byte, and a string the
// library decodes to the same counts.
func TestEncodeHistogramMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		record func(h *hdrhistogram.Histogram)
	}{
		{"one value", func(h *hdrhistogram.Histogram) { h.RecordValue(250) }},
		{"the lowest and the highest", func(h *hdrhistogram.Histogram) { h.RecordValue(HistMinUS); h.RecordValue(HistMaxUS) }},
		{"a spread", func(h *hdrhistogram.Histogram) {
			for range 100_000 {
				h.RecordValue(int64(r.ExpFloat64() * 2000))
			}
		}},
		{"counts past 2^56", func(h *hdrhistogram.Histogram) {
			h.RecordValues(100, 1<<60)
			h.RecordValues(5000, 3)
		}},
		{"runs of zeros and lone zeros", func(h *hdrhistogram.Histogram) {
			for v := int64(1); v < 5000; v += 2 {
				h.RecordValue(v)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			tc.record(h)
			ours, err := EncodeHistogram(h)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				t.Fatal(err)
			}
			a, b := inflated(t, ours), inflated(t, string(theirs))
			if !bytes.Equal(a, b) {
				t.Fatalf("payload %d bytes, the library's %d: differ at byte %d", len(a), len(b), firstDiff(a, b))
			}
			back, err := DecodeHistogram(ours)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.Export().Counts, h.Export().Counts) || back.TotalCount() != h.TotalCount() {
				t.Fatalf("decoded counts differ: total %d, want %d", back.TotalCount(), h.TotalCount())
			}
		})
	}
}

// inflated is the uncompressed payload of an encoded histogram: base64,
// then a cookie and a length, then zlib.
func inflated(t *testing.T, s string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func BenchmarkEncodeHistogram(b *testing.B) {
	h := NewHistogram()
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		h.RecordValue(int64(r.ExpFloat64() * 200))
	}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeHistogram(h)
		}
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		}
	})
}
