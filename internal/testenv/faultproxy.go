package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// FaultProxy forwards TCP connections to a server until Down, which breaks
// every open connection and refuses new ones until Up: a database that
// stops and comes back, as seen from the process using it.
type FaultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

// NewFaultProxy starts a proxy to target (host:port) until the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.Down() })
	go p.serve()
	return p
}

// Addr is the proxy's host:port: point the client at it.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

func (p *FaultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, s); s.Close(); c.Close() }()
	}
}

// Down breaks every connection and refuses new ones.
func (p *FaultProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Up accepts connections again.
func (p *FaultProxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
