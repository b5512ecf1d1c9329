// Package spill keeps an append-only list of values in a temporary file
// instead of memory, for figures a long run produces once a second and
// reads only at its end.
package spill

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"io"
	"os"
)

// List is an append-only list of values kept in a temporary file instead
// of memory. A run produces values once a second (a finished window's
// figures, a sampler's reading) that are needed only when the result is
// assembled; held in memory they would make the process grow with the
// run's length, a few KB for every second of a long soak.
//
// Values are gob-encoded, one Write each, so that a failed write leaves
// exactly the earlier values readable. When no temporary file can be made
// (a read-only file system) or a write fails (a full disk), the list keeps
// that value and the later ones in memory instead: a run never loses a
// figure for want of disk, it only gives up the flat footprint.
//
// The zero value is ready to use; the file is made at the first Add. A
// List is not safe for concurrent use.
type List[T any] struct {
	f *os.File
	// path is the file's name while it still has one: see open.
	path   string
	enc    *gob.Encoder
	buf    bytes.Buffer // one encoded value, reused
	size   int64        // bytes of whole values in f
	onDisk int          // values in f
	mem    []T          // values after the file failed, in order
	failed bool
}

// open makes the temporary file; on failure the list keeps values in memory.
func (s *List[T]) open() {
	f, err := os.CreateTemp("", "ilities-spill-*")
	if err != nil {
		s.failed = true
		return
	}
	// Removing the name at once (Unix) keeps the open file usable and
	// leaves nothing on disk however the process ends. Where an open file
	// cannot be removed (Windows), close removes it.
	if os.Remove(f.Name()) != nil {
		s.path = f.Name()
	}
	s.f = f
	s.enc = gob.NewEncoder(&s.buf)
}

// Add appends v.
func (s *List[T]) Add(v T) {
	if s.f == nil && !s.failed {
		s.open()
	}
	if !s.failed {
		// The encoder is stateful (type information goes with the first
		// value only), so once a value could not be written whole the
		// file takes no more.
		s.buf.Reset()
		if err := s.enc.Encode(v); err == nil {
			if _, err := s.f.Write(s.buf.Bytes()); err == nil {
				s.size += int64(s.buf.Len())
				s.onDisk++
				return
			}
		}
		s.failed = true
	}
	s.mem = append(s.mem, v)
}

// Len is the number of values added.
func (s *List[T]) Len() int { return s.onDisk + len(s.mem) }

// InMemory is the number of values held in memory, there since a file
// could not be made or written.
func (s *List[T]) InMemory() int { return len(s.mem) }

// All returns every value added, in order.
func (s *List[T]) All() ([]T, error) {
	out := make([]T, 0, s.Len())
	if s.onDisk > 0 {
		dec := gob.NewDecoder(io.NewSectionReader(s.f, 0, s.size))
		for range s.onDisk {
			var v T
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("spill: reading back the per-second figures kept on disk: %w", err)
			}
			out = append(out, v)
		}
	}
	return append(out, s.mem...), nil
}

// Close releases the file (removing it if it still has a name) and
// empties the list; it may be called more than once.
func (s *List[T]) Close() {
	if s.f != nil {
		s.f.Close()
		if s.path != "" {
			os.Remove(s.path)
		}
	}
	*s = List[T]{}
}
