package evloop

import (
	"iter"
	"syscall"
)

// Tag names a connection of a loop as it is now: its slot in the loop's
// Table and the slot's generation, which changes when the slot is freed.
// Every event a descriptor is registered for carries its tag (the epoll
// data), and so may a loop's timers and idle lists: once the connection is
// closed, and its slot or its descriptor number taken by another, a tag
// still in flight names nothing rather than the newcomer.
type Tag struct {
	Slot int32 // index in the Table; negative for the loop's own descriptors
	Gen  uint32
}

// TagOf is the tag ev carries.
func TagOf(ev *syscall.EpollEvent) Tag { return Tag{Slot: ev.Fd, Gen: uint32(ev.Pad)} }

// event is the epoll registration of mask under t: the tag fills the
// 64-bit data word the kernel hands back with each event.
func (t Tag) event(mask uint32) syscall.EpollEvent {
	return syscall.EpollEvent{Events: mask, Fd: t.Slot, Pad: int32(t.Gen)}
}

// Table holds a loop's connections by slot. A slot's connection is kept
// from one use to the next, with its buffers, so a loop allocates no
// connection once it has seen its peak; a freed slot is reused before a new
// one is made. Only the loop's goroutine touches it.
type Table[C any] struct {
	slots []slot[C]
	free  []int32
}

type slot[C any] struct {
	conn *C
	gen  uint32
	open bool
}

// Open takes a slot and returns its connection (new(C) for a slot never
// used, else as its last user left it) and the tag it is known by until
// Release.
func (t *Table[C]) Open() (*C, Tag) {
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = int32(len(t.slots))
		t.slots = append(t.slots, slot[C]{conn: new(C)})
	}
	s := &t.slots[i]
	s.open = true
	return s.conn, Tag{Slot: i, Gen: s.gen}
}

// Release frees tag's slot: from now on the tag, and every event and
// reference carrying it, names nothing. A stale tag is ignored.
func (t *Table[C]) Release(tag Tag) {
	if t.Get(tag) == nil {
		return
	}
	s := &t.slots[tag.Slot]
	s.open = false
	s.gen++
	t.free = append(t.free, tag.Slot)
}

// Get returns the connection tag names, or nil when the tag is stale (its
// connection was released) or not the table's.
func (t *Table[C]) Get(tag Tag) *C {
	if uint(tag.Slot) >= uint(len(t.slots)) {
		return nil
	}
	s := &t.slots[tag.Slot]
	if !s.open || s.gen != tag.Gen {
		return nil
	}
	return s.conn
}

// Event returns the connection ev is for, or nil for an event queued
// before its connection was released (its slot or descriptor number may
// belong to another connection by now) and for the loop's own descriptors.
// Every event goes through here: this is where a stale one is dropped.
func (t *Table[C]) Event(ev *syscall.EpollEvent) *C { return t.Get(TagOf(ev)) }

// All yields the open connections, in slot order.
func (t *Table[C]) All() iter.Seq[*C] {
	return func(yield func(*C) bool) {
		for i := range t.slots {
			if t.slots[i].open && !yield(t.slots[i].conn) {
				return
			}
		}
	}
}
