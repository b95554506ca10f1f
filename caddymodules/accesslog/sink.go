package accesslog

import (
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
)

// sink batches log lines in front of a writer: a line is copied into the
// buffer under a mutex; the buffer is written when the next line would not
// fit, by a ticker every interval, and when the sink is destroyed. With a
// zero interval every line is written at once.
type sink struct {
	mu     sync.Mutex
	w      io.WriteCloser
	buf    []byte
	failed bool // the last write failed (reported once until one succeeds)
	logger *zap.Logger

	stop chan struct{}
	done chan struct{}
}

func newSink(w io.WriteCloser, interval time.Duration, size int, logger *zap.Logger) *sink {
	s := &sink{w: w, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	if interval == 0 {
		close(s.done)
		return s
	}
	s.buf = make([]byte, 0, size)
	go s.flushEvery(interval)
	return s
}

func (s *sink) flushEvery(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.flushLocked()
			s.mu.Unlock()
		}
	}
}

// write takes a copy of line.
func (s *sink) write(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(s.buf) == 0 { // unbuffered
		s.writeLocked(line)
		return
	}
	if len(s.buf)+len(line) > cap(s.buf) {
		s.flushLocked()
		if len(line) > cap(s.buf) {
			s.writeLocked(line)
			return
		}
	}
	s.buf = append(s.buf, line...)
}

func (s *sink) flushLocked() {
	if len(s.buf) == 0 {
		return
	}
	s.writeLocked(s.buf)
	s.buf = s.buf[:0]
}

// writeLocked writes p; a failure (disk full, closed pipe) drops those
// lines and is reported once, and again after the next success.
func (s *sink) writeLocked(p []byte) {
	_, err := s.w.Write(p)
	switch {
	case err != nil && !s.failed:
		s.failed = true
		s.logger.Error("access log lines dropped: the writer failed", zap.Error(err), zap.Int("bytes", len(p)))
	case err == nil && s.failed:
		s.failed = false
		s.logger.Info("access log writer works again")
	}
}

// Destruct implements caddy.Destructor: stop the ticker, flush, close.
func (s *sink) Destruct() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	return s.w.Close()
}
