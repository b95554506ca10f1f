// benchtool: the two small Go pieces of the proxy benchmark harness.
//
//	benchtool upstream -addr 127.0.0.1:18081   tiny HTTP upstream (the thing every proxy forwards to)
//	benchtool report results.tsv               turn the harness's per-run TSV into a markdown table
//
// Standard library only, so `go build` needs no module downloads.
package main

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool upstream [-addr host:port] | benchtool report results.tsv")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "upstream":
		addr := "127.0.0.1:18081"
		if len(os.Args) >= 4 && os.Args[2] == "-addr" {
			addr = os.Args[3]
		}
		upstream(addr)
	case "report":
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "usage: benchtool report results.tsv")
			os.Exit(2)
		}
		if err := report(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

// ---------------------------------------------------------------- upstream

// smallBody is exactly 100 bytes of JSON; bigBody is exactly 4096 bytes.
var (
	smallBody = []byte(`{"id":42,"name":"bench-upstream","ok":true,"items":[1,2,3,4,5],"msg":"hello from the tiny upstream"}`)
	bigBody   = makeBig(4096)
	conns     atomic.Int64 // TCP connections accepted (shows keepalive-pool churn of a proxy)
	reqs      atomic.Int64 // requests served (shows every request really reached the upstream)
)

func makeBig(n int) []byte {
	head, tail := `{"id":42,"pad":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func upstream(addr string) {
	if len(smallBody) != 100 || len(bigBody) != 4096 {
		panic("body sizes drifted")
	}
	small, big := strconv.Itoa(len(smallBody)), strconv.Itoa(len(bigBody))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/__stats" { // read by the harness around each wrk run; not counted
			fmt.Fprintf(w, "%d %d\n", conns.Load(), reqs.Load())
			return
		}
		reqs.Add(1)
		hd := w.Header()
		if r.Header.Get("X-Bench-Echo") != "" { // sanity check only: what did the proxy send us?
			hd.Set("X-Echo-Path", r.URL.Path)
			hd.Set("X-Echo-Gateway", r.Header.Get("X-Gateway"))
			hd.Set("X-Echo-Resource", r.Header.Get("X-Api-Resource"))
			// Every header name the proxy sent (sorted), to show what each proxy adds.
			names := make([]string, 0, len(r.Header))
			for k := range r.Header {
				names = append(names, k)
			}
			sort.Strings(names)
			hd.Set("X-Echo-Headers", strings.Join(names, ","))
		}
		body, n := smallBody, small
		if strings.HasSuffix(r.URL.Path, "/4k") {
			body, n = bigBody, big
		}
		hd["Content-Type"] = []string{"application/json"}
		hd["Content-Length"] = []string{n} // explicit, so the 4 KiB body is not chunked
		w.Write(body)
	})
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute, // longer than any proxy's idle timeout: proxies decide churn
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	fmt.Fprintln(os.Stderr, "upstream listening on", addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- report

// One wrk run, as written by proxy-bench.sh (tab-separated, with a header line):
// round target rps p50_us p99_us requests errors upconns upreqs foreign_pct srv_cpu_pct cli_cpu_pct
type run struct {
	round          int
	target         string
	rps, p50, p99  float64
	requests, errs int64
	upconns        int64
	foreign        float64 // % of machine CPU used by processes not ours during the run
	srv, cli       float64 // CPU of servers (upstream+proxy) and of wrk, in % of one core
}

func report(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var runs []run
	var order []string // targets in first-seen order
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 8 || fs[0] == "round" {
			continue
		}
		var x run
		x.round, _ = strconv.Atoi(fs[0])
		x.target = fs[1]
		x.rps, _ = strconv.ParseFloat(fs[2], 64)
		x.p50, _ = strconv.ParseFloat(fs[3], 64)
		x.p99, _ = strconv.ParseFloat(fs[4], 64)
		x.requests, _ = strconv.ParseInt(fs[5], 10, 64)
		x.errs, _ = strconv.ParseInt(fs[6], 10, 64)
		x.upconns, _ = strconv.ParseInt(fs[7], 10, 64)
		if len(fs) >= 12 {
			x.foreign, _ = strconv.ParseFloat(fs[9], 64)
			x.srv, _ = strconv.ParseFloat(fs[10], 64)
			x.cli, _ = strconv.ParseFloat(fs[11], 64)
		}
		runs = append(runs, x)
		if !seen[x.target] {
			seen[x.target] = true
			order = append(order, x.target)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	// rps of every target, per round, so ratios are taken within a round (drift cancels).
	byRound := map[int]map[string]float64{}
	for _, x := range runs {
		if byRound[x.round] == nil {
			byRound[x.round] = map[string]float64{}
		}
		byRound[x.round][x.target] = x.rps
	}
	ratios := func(target, base string) []float64 {
		var out []float64
		for _, m := range byRound {
			if a, ok := m[target]; ok {
				if b, ok := m[base]; ok && b > 0 {
					out = append(out, a/b)
				}
			}
		}
		return out
	}
	fmt.Println("| target | req/s median | req/s min–max (spread) | p50 ms | p99 ms (min–max) | × direct (min–max) | × nginx (min–max) | × caddy (min–max) | upstream conns/run | server CPU % | server CPU µs/req | wrk CPU % | foreign CPU % med (max) | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, t := range order {
		var rps, p50, p99, up, fg, srv, cli, cpr []float64
		var errs int64
		for _, x := range runs {
			if x.target == t {
				rps = append(rps, x.rps)
				p50 = append(p50, x.p50/1000)
				p99 = append(p99, x.p99/1000)
				up = append(up, float64(x.upconns))
				fg = append(fg, x.foreign)
				srv = append(srv, x.srv)
				if x.rps > 0 {
					cpr = append(cpr, x.srv/100*1e6/x.rps) // CPU µs of upstream+proxy per request
				}
				cli = append(cli, x.cli)
				errs += x.errs
			}
		}
		mr := median(rps)
		lo, hi := minmax(rps)
		plo, phi := minmax(p99)
		_, fgmax := minmax(fg)
		fmt.Printf("| %s | %.0f | %.0f–%.0f (%.1f%%) | %.3f | %.3f (%.3f–%.3f) | %s | %s | %s | %.0f | %.0f | %.1f | %.0f | %.1f (%.1f) | %d |\n",
			t, mr, lo, hi, 100*(hi-lo)/mr, median(p50), median(p99), plo, phi,
			ratioCell(ratios(t, "direct")), ratioCell(ratios(t, "nginx")), ratioCell(ratios(t, "caddy")), median(up), median(srv), median(cpr), median(cli), median(fg), fgmax, errs)
	}
	fmt.Printf("\nRounds: %d. Ratios are medians of per-round ratios (each target vs the baseline measured in the same round); spread = (max−min)/median of req/s across rounds. "+
		"Upstream conns/run: new TCP connections the upstream accepted during one run (for direct these are wrk's own). "+
		"Server / wrk CPU: median CPU used by upstream+proxy and by wrk, in %% of one core (wrk near 100 = client-bound); "+
		"server CPU µs/req = that CPU time divided by requests served (proxy plus upstream cost per request). "+
		"Foreign CPU: share of the machine's CPU used by processes that are not part of the benchmark; above a few %% the run was disturbed.\n", len(byRound))
	return nil
}

func ratioCell(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	lo, hi := minmax(v)
	return fmt.Sprintf("%.3f (%.3f–%.3f)", median(v), lo, hi)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minmax(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return
}
