package traffic

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Windows: one a minute, kept for an hour.
const (
	// Step is the length of one window.
	Step = time.Minute
	// MaxWindow is the longest span the API aggregates.
	MaxWindow = time.Hour
	// ringSlots is how many windows a series keeps: the hour, the current
	// minute and a spare, so that a slot is reused only well after every
	// reader has stopped wanting it.
	ringSlots = 62
)

// Latency histogram: log-spaced buckets, two per power of two of the
// duration in nanoseconds ([2^k, 1.5·2^k) and [1.5·2^k, 2^(k+1))), from
// 2^17 ns (0.131 ms) to 2^35 ns (34.4 s), plus one bucket below and one above.
const (
	minPow     = 17
	maxPow     = 34 // the last power of two with buckets of its own
	numBuckets = 1 + 2*(maxPow-minPow+1) + 1
)

// Fields of one window's counts.
const (
	fRequests = iota
	f4xx
	f5xx
	fBucket0
	numFields = fBucket0 + numBuckets
)

// counts is one window's figures, plain values: requests, 4xx and 5xx
// answers, and the latency histogram.
type counts [numFields]uint64

func (c *counts) add(o *counts) {
	for i := range c {
		c[i] += o[i]
	}
}

// bucketOf returns the histogram bucket of d.
func bucketOf(d time.Duration) int {
	if d < 1<<minPow {
		return 0
	}
	n := uint64(d)
	p := bits.Len64(n) - 1 // floor(log2 n) ≥ minPow
	if p > maxPow {
		return numBuckets - 1
	}
	half := int(n>>(p-1)) & 1 // the bit after the leading one: ≥ 1.5·2^p
	return 1 + 2*(p-minPow) + half
}

// bucketBounds returns the range [lo, hi) of bucket i in nanoseconds; the
// last bucket's hi is its lo (it has no upper bound).
func bucketBounds(i int) (lo, hi float64) {
	switch {
	case i <= 0:
		return 0, 1 << minPow
	case i >= numBuckets-1:
		lo = float64(uint64(1) << (maxPow + 1))
		return lo, lo
	}
	p := minPow + (i-1)/2
	base := float64(uint64(1) << p)
	if (i-1)%2 == 0 {
		return base, 1.5 * base
	}
	return 1.5 * base, 2 * base
}

// quantile returns the q-quantile (0 < q ≤ 1) of the histogram in c, in
// milliseconds, interpolating linearly inside the bucket it falls in; 0
// when c holds no request.
func (c *counts) quantile(q float64) float64 {
	var total uint64
	for _, n := range c[fBucket0:] {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, n := range c[fBucket0:] {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			lo, hi := bucketBounds(i)
			return (lo + (hi-lo)*(rank-cum)/float64(n)) / 1e6
		}
		cum += float64(n)
	}
	lo, _ := bucketBounds(numBuckets - 1)
	return lo / 1e6
}

// minuteOf returns the window number (minutes since the Unix epoch) of t.
func minuteOf(t time.Time) int64 { return t.Unix() / int64(Step/time.Second) }

// key names a series: a service, the caller's tenant ("" for none) and
// the version that served ("" when the service has no routing rules, or
// none was chosen).
type key struct{ service, tenant, version string }

// slot is one window of a series. Counters are 32-bit: a minute of one
// service and tenant stays far below 4·10⁹ requests.
type slot struct {
	minute atomic.Int64
	n      [numFields]atomic.Uint32
}

// series holds a key's windows in a ring indexed by minute.
type series struct {
	mu    sync.Mutex // taken only to start a new window in a slot
	slots [ringSlots]slot
	last  atomic.Int64 // the newest minute recorded

	// flushed is what was last sent to Redis from each slot; only the
	// flusher touches it (under Recorder.flushMu).
	flushed [ringSlots]flushedSlot
}

type flushedSlot struct {
	minute int64
	n      [numFields]uint32
}

func (s *series) record(minute int64, status int, d time.Duration) {
	sl := &s.slots[minute%ringSlots]
	if m := sl.minute.Load(); m != minute {
		if m > minute {
			return // the clock went back more than the ring holds
		}
		s.mu.Lock()
		if sl.minute.Load() < minute {
			for i := range sl.n {
				sl.n[i].Store(0)
			}
			sl.minute.Store(minute)
		}
		s.mu.Unlock()
	}
	sl.n[fBucket0+bucketOf(d)].Add(1)
	switch {
	case status >= 500:
		sl.n[f5xx].Add(1)
	case status >= 400:
		sl.n[f4xx].Add(1)
	}
	// Requests last: a reader that sees a request counted sees its other
	// fields too (the flusher relies on it).
	sl.n[fRequests].Add(1)
	if s.last.Load() < minute {
		s.last.Store(minute)
	}
}

// load copies slot sl's counters into c.
func (sl *slot) load(c *counts) {
	for i := range sl.n {
		c[i] = uint64(sl.n[i].Load())
	}
}

// DefaultMaxSeries bounds how many (service, tenant, version) series a
// gateway keeps.
const DefaultMaxSeries = 10000

// Recorder counts requests per (minute, service, tenant, version). Record is safe
// for concurrent use and allocates nothing once a series exists: a lookup
// in a copy-on-write map, then atomic adds.
type Recorder struct {
	series    atomic.Pointer[map[key]*series]
	mu        sync.Mutex // serialises changes of the series map
	maxSeries int

	flushMu sync.Mutex // serialises flushes (series.flushed)
}

// NewRecorder returns an empty Recorder holding at most maxSeries series
// (DefaultMaxSeries if ≤ 0); past that, new tenants of a service are
// counted under no tenant (visible to super_admins only). The version is
// kept: versions come from the registry's snapshot, a few per service,
// never from the client.
func NewRecorder(maxSeries int) *Recorder {
	if maxSeries <= 0 {
		maxSeries = DefaultMaxSeries
	}
	r := &Recorder{maxSeries: maxSeries}
	m := map[key]*series{}
	r.series.Store(&m)
	return r
}

// Record counts one request to service from tenant, served by version
// ("" for none), that ended at end with status after d.
func (r *Recorder) Record(service, tenant, version string, status int, d time.Duration, end time.Time) {
	k := key{service, tenant, version}
	s := (*r.series.Load())[k]
	if s == nil {
		s = r.add(k)
	}
	s.record(minuteOf(end), status, d)
}

// add returns k's series, creating it (copying the map) if needed.
func (r *Recorder) add(k key) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.series.Load()
	if s := old[k]; s != nil {
		return s
	}
	if len(old) >= r.maxSeries && k.tenant != "" {
		k.tenant = ""
		if s := old[k]; s != nil {
			return s
		}
	}
	m := make(map[key]*series, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	s := new(series)
	m[k] = s
	r.series.Store(&m)
	return s
}

// evict drops the series idle since before minute, once everything they
// counted has been flushed (or when nothing is flushed: flushing false).
func (r *Recorder) evict(before int64, flushing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.series.Load()
	var drop []key
	for k, s := range old {
		if s.last.Load() < before && (!flushing || s.allFlushed()) {
			drop = append(drop, k)
		}
	}
	if len(drop) == 0 {
		return
	}
	m := make(map[key]*series, len(old))
	for k, v := range old {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	r.series.Store(&m)
}

func (s *series) allFlushed() bool {
	for i := range s.slots {
		sl := &s.slots[i]
		if n := sl.n[fRequests].Load(); n != 0 && (s.flushed[i].minute != sl.minute.Load() || s.flushed[i].n[fRequests] != n) {
			return false
		}
	}
	return true
}

// Filter selects the figures a reader may see: one tenant's (AllTenants:
// every tenant's) and one service's ("" for all).
type Filter struct {
	AllTenants bool
	Tenant     string
	Service    string
}

func (f Filter) admits(service, tenant string) bool {
	return (f.AllTenants || tenant == f.Tenant) && (f.Service == "" || service == f.Service)
}

// Dataset is aggregated figures: (service, version) → minute → counts.
type Dataset map[Series]map[int64]*counts

// Series names a Dataset's figures: a service and the version that served
// ("" for none).
type Series struct{ Service, Version string }

func (d Dataset) add(k key, minute int64, c *counts) {
	s := Series{k.service, k.version}
	byMinute := d[s]
	if byMinute == nil {
		byMinute = map[int64]*counts{}
		d[s] = byMinute
	}
	sum := byMinute[minute]
	if sum == nil {
		sum = new(counts)
		byMinute[minute] = sum
	}
	sum.add(c)
}

// Read sums this process's figures of minutes from..to (inclusive) that f
// admits.
func (r *Recorder) Read(from, to int64, f Filter) Dataset {
	d := Dataset{}
	var c counts
	for k, s := range *r.series.Load() {
		if !f.admits(k.service, k.tenant) {
			continue
		}
		for i := range s.slots {
			sl := &s.slots[i]
			m := sl.minute.Load()
			if m < from || m > to || sl.n[fRequests].Load() == 0 {
				continue
			}
			sl.load(&c)
			if sl.minute.Load() != m {
				continue // reused while read
			}
			d.add(k, m, &c)
		}
	}
	return d
}

// delta is what a series counted in one minute since the last flush.
type delta struct {
	key    key
	minute int64
	n      counts
}

// pendingFlush is a flush's deltas and how to mark them as sent.
type pendingFlush struct {
	deltas []delta
	marks  []flushMark
}

type flushMark struct {
	to *flushedSlot
	v  flushedSlot
}

// deltas collects, under flushMu (held by the caller), what every series
// counted in the minutes since oldest that was not yet flushed.
func (r *Recorder) deltas(oldest int64) pendingFlush {
	var p pendingFlush
	for k, s := range *r.series.Load() {
		for i := range s.slots {
			sl := &s.slots[i]
			m := sl.minute.Load()
			if m < oldest {
				continue
			}
			fl := &s.flushed[i]
			var base [numFields]uint32
			if fl.minute == m {
				if sl.n[fRequests].Load() == fl.n[fRequests] {
					continue // nothing finished since the last flush
				}
				base = fl.n
			}
			v := flushedSlot{minute: m}
			d := delta{key: k, minute: m}
			for f := range sl.n {
				v.n[f] = sl.n[f].Load()
				if v.n[f] > base[f] {
					d.n[f] = uint64(v.n[f] - base[f])
				} else {
					v.n[f] = base[f] // never send a negative delta
				}
			}
			if sl.minute.Load() != m {
				continue
			}
			p.deltas = append(p.deltas, d)
			p.marks = append(p.marks, flushMark{fl, v})
		}
	}
	return p
}

// commit records that p's deltas reached the shared store.
func (p pendingFlush) commit() {
	for _, m := range p.marks {
		*m.to = m.v
	}
}
