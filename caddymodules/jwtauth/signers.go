package jwtauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"maps"
	"sync"
	"sync/atomic"
)

// maxSigners bounds the cached services; past it a key is derived per
// request (the names come from the registry, so this is never reached in
// practice).
const maxSigners = 4096

// signers hands out HMACs keyed by each service's ServiceKey. The keys
// are derived once per service: the request path reads a copy-on-write
// map and takes a keyed HMAC from that service's pool, with no
// allocation once warm.
type signers struct {
	master []byte
	m      atomic.Pointer[map[string]*sync.Pool]
	mu     sync.Mutex // serializes writers of m
}

func newSigners(master []byte) *signers {
	s := &signers{master: master}
	s.m.Store(&map[string]*sync.Pool{})
	return s
}

// pool returns the pool of HMACs keyed by service's key.
func (s *signers) pool(service string) *sync.Pool {
	if p := (*s.m.Load())[service]; p != nil {
		return p
	}
	key := []byte(ServiceKey(s.master, service))
	p := &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if q := old[service]; q != nil {
		return q
	}
	if len(old) < maxSigners {
		next := maps.Clone(old)
		next[service] = p
		s.m.Store(&next)
	}
	return p
}

// sign is Sign under service's key.
func (s *signers) sign(service, method, path, user, tenant, roles, scopes, timestamp string) string {
	p := s.pool(service)
	m := p.Get().(hash.Hash)
	sig := signWith(m, service, method, path, user, tenant, roles, scopes, timestamp)
	p.Put(m)
	return sig
}
