package sse

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestStream(t *testing.T) {
	rec := httptest.NewRecorder()
	s, err := Start(rec, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return s.JSON(7, "snapshot", map[string]int{"revision": 7}) },
		func() error { return s.JSON(-1, "change", []int{1}) },
		func() error { return s.Event("", "change", []byte("a\r\nb\rc\nd")) },
		s.KeepAlive,
		func() error { return s.Reconnect([]byte(`{"revision":7}`)) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := "retry: 1000\n\n" +
		"id: 7\nevent: snapshot\ndata: {\"revision\":7}\n\n" +
		"event: change\ndata: [1]\n\n" +
		"event: change\ndata: a\ndata: b\ndata: c\ndata: d\n\n" +
		": keep-alive\n\n" +
		"event: reconnect\ndata: {\"revision\":7}\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("stream:\n%q\nwant\n%q", got, want)
	}
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !rec.Flushed {
		t.Error("not flushed")
	}
}
