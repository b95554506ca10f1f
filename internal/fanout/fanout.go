// Package fanout hands the events of a change feed to the subscribers of
// one process, in order, never skipping one: a subscriber whose buffer is
// full is cut off (its channel closes), so that it reconnects and resumes
// from the last event it received. The registry's feed and core's change
// hub both deliver through it.
//
// A Set is guarded by its owner's lock, which also guards the owner's own
// position in the feed: subscribing and delivering happen under that one
// lock, so a new subscriber learns the position of the last event
// delivered before it and receives every one after.
package fanout

import "sync"

// Set is the subscribers of one feed. Its methods but Sub.Close expect the
// caller to hold the lock given to New.
type Set[T any] struct {
	mu     sync.Locker
	buffer int
	subs   map[*Sub[T]]struct{}
	closed bool
}

// New returns an empty set guarded by mu, whose subscribers may lag up to
// buffer events behind before they are cut off.
func New[T any](mu sync.Locker, buffer int) *Set[T] {
	return &Set[T]{mu: mu, buffer: buffer, subs: map[*Sub[T]]struct{}{}}
}

// Subscribe adds a subscriber; after Shutdown it returns one whose channel
// is closed already.
func (s *Set[T]) Subscribe() *Sub[T] {
	sub := &Sub[T]{ch: make(chan T, s.buffer), set: s}
	if s.closed {
		close(sub.ch)
		return sub
	}
	s.subs[sub] = struct{}{}
	return sub
}

// Send hands v to every subscriber, cutting off those whose buffer is
// full, and reports how many it cut off.
func (s *Set[T]) Send(v T) (cut int) {
	for sub := range s.subs {
		select {
		case sub.ch <- v:
		default:
			s.drop(sub)
			cut++
		}
	}
	return cut
}

// DropAll cuts every subscriber off (each resumes, or starts over).
func (s *Set[T]) DropAll() {
	for sub := range s.subs {
		s.drop(sub)
	}
}

// Shutdown cuts every subscriber off and refuses new ones.
func (s *Set[T]) Shutdown() {
	s.closed = true
	s.DropAll()
}

func (s *Set[T]) drop(sub *Sub[T]) {
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.ch)
	}
}

// Sub is one subscriber.
type Sub[T any] struct {
	ch  chan T
	set *Set[T]
}

// Events delivers the events sent after Subscribe, in order. It is closed
// when the subscriber was cut off or the set shut down.
func (s *Sub[T]) Events() <-chan T { return s.ch }

// Close ends the subscription. It takes the set's lock.
func (s *Sub[T]) Close() {
	s.set.mu.Lock()
	defer s.set.mu.Unlock()
	s.set.drop(s)
}
