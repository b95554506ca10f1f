package fanout

import (
	"sync"
	"testing"
)

func TestSet(t *testing.T) {
	var mu sync.Mutex
	s := New[int](&mu, 2)
	slow, fast := s.Subscribe(), s.Subscribe()
	for v := 1; v <= 3; v++ {
		if v == 3 {
			<-fast.Events() // fast reads one; slow reads none
		}
		if cut := s.Send(v); (v == 3) != (cut == 1) {
			t.Fatalf("send %d cut %d", v, cut)
		}
	}
	var got []int
	for v := range slow.Events() { // cut off: what it held, then closed
		got = append(got, v)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("slow subscriber got %v", got)
	}
	if v := <-fast.Events(); v != 2 {
		t.Fatalf("fast subscriber: %d", v)
	}
	fast.Close()
	fast.Close() // twice is harmless
	s.Shutdown()
	if _, ok := <-s.Subscribe().Events(); ok {
		t.Fatal("a subscription after shutdown is open")
	}
}
