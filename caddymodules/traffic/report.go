package traffic

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Report is the body of GET /api/gateway/traffic. The console reads it;
// keep its shape.
type Report struct {
	From        string           `json:"from"`
	To          string           `json:"to"`
	StepSeconds int              `json:"step_seconds"`
	Scope       string           `json:"scope"`
	Totals      Figures          `json:"totals"`
	Services    []ServiceFigures `json:"services"`
}

// Figures are a span's totals. rps is requests over the span's seconds;
// error_rate is (4xx + 5xx) / requests; p50_ms and p99_ms come from the
// latency histogram (0 with no request).
type Figures struct {
	Requests  uint64  `json:"requests"`
	Errors4xx uint64  `json:"errors_4xx"`
	Errors5xx uint64  `json:"errors_5xx"`
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"error_rate"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
}

// ServiceFigures are one service's totals and its per-window series, and,
// when the report is by version, its figures per version that served.
type ServiceFigures struct {
	Service string `json:"service"`
	Figures
	Series   []Point          `json:"series"`
	Versions []VersionFigures `json:"versions,omitempty"`
}

// VersionFigures are the totals of the requests one version served (""
// for those no version served: a service without routing rules, or no
// live version); share is their part of the service's requests (0 to 1).
// Sorted by version.
type VersionFigures struct {
	Version string `json:"version"`
	Figures
	Share float64 `json:"share"`
}

// Point is one window of a service; t is the window's start.
type Point struct {
	T         string  `json:"t"`
	Requests  uint64  `json:"requests"`
	Errors4xx uint64  `json:"errors_4xx"`
	Errors5xx uint64  `json:"errors_5xx"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
}

// span returns the windows (minutes, inclusive) a report of window ending
// at now covers, and its start: window/Step minutes, the last being now's.
func span(now time.Time, window time.Duration) (first, last int64, from time.Time) {
	last = minuteOf(now)
	n := int64((window + Step - 1) / Step)
	first = last - n + 1
	return first, last, time.Unix(first*int64(Step/time.Second), 0).UTC()
}

// buildReport turns d, the figures of minutes first..last, into a report
// spanning from..to: every service with a point per window (zeros where it
// had no request), sorted by requests, most first; with byVersion, each
// service's figures per version too.
func buildReport(d Dataset, first, last int64, from, to time.Time, scope string, byVersion bool) Report {
	secs := to.Sub(from).Seconds()
	rep := Report{
		From: from.UTC().Format(time.RFC3339), To: to.UTC().Format(time.RFC3339),
		StepSeconds: int(Step / time.Second), Scope: scope, Services: []ServiceFigures{},
	}
	// Each service's minutes, summed over its versions, and each version's total.
	perService := map[string]map[int64]*counts{}
	perVersion := map[Series]*counts{}
	for s, byMinute := range d {
		sm := perService[s.Service]
		if sm == nil {
			sm = map[int64]*counts{}
			perService[s.Service] = sm
		}
		vsum := new(counts)
		for m, c := range byMinute {
			if m < first || m > last {
				continue
			}
			if sm[m] == nil {
				sm[m] = new(counts)
			}
			sm[m].add(c)
			vsum.add(c)
		}
		if vsum[fRequests] > 0 {
			perVersion[s] = vsum
		}
	}
	var all counts
	for name, byMinute := range perService {
		sf := ServiceFigures{Service: name, Series: make([]Point, 0, last-first+1)}
		var sum counts
		for m := first; m <= last; m++ {
			p := Point{T: time.Unix(m*int64(Step/time.Second), 0).UTC().Format(time.RFC3339)}
			if c := byMinute[m]; c != nil {
				sum.add(c)
				p.Requests, p.Errors4xx, p.Errors5xx = c[fRequests], c[f4xx], c[f5xx]
				p.P50, p.P99 = round(c.quantile(0.5), 3), round(c.quantile(0.99), 3)
			}
			sf.Series = append(sf.Series, p)
		}
		if sum[fRequests] == 0 {
			continue
		}
		sf.Figures = figuresOf(&sum, secs)
		if byVersion {
			sf.Versions = []VersionFigures{}
			for s, c := range perVersion {
				if s.Service == name {
					sf.Versions = append(sf.Versions, VersionFigures{Version: s.Version, Figures: figuresOf(c, secs),
						Share: round(float64(c[fRequests])/float64(sum[fRequests]), 4)})
				}
			}
			slices.SortFunc(sf.Versions, func(a, b VersionFigures) int { return strings.Compare(a.Version, b.Version) })
		}
		all.add(&sum)
		rep.Services = append(rep.Services, sf)
	}
	rep.Totals = figuresOf(&all, secs)
	slices.SortFunc(rep.Services, func(a, b ServiceFigures) int {
		if a.Requests != b.Requests {
			if a.Requests > b.Requests {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Service, b.Service)
	})
	return rep
}

func figuresOf(c *counts, secs float64) Figures {
	f := Figures{Requests: c[fRequests], Errors4xx: c[f4xx], Errors5xx: c[f5xx]}
	if secs > 0 {
		f.RPS = round(float64(f.Requests)/secs, 3)
	}
	if f.Requests > 0 {
		f.ErrorRate = round(float64(f.Errors4xx+f.Errors5xx)/float64(f.Requests), 4)
		f.P50, f.P99 = round(c.quantile(0.5), 3), round(c.quantile(0.99), 3)
	}
	return f
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
