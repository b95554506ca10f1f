package testenv

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// SSEEvent is one Server-Sent Event as a test reads it.
type SSEEvent struct {
	ID, Event string
	// Data is the event's data lines joined by "\n".
	Data []byte
}

// SSEEvents reads resp's body as a Server-Sent Events stream and returns
// its events (comments, such as keep-alives, are not events) on a channel
// of buffer places that closes when the stream ends. It closes the body.
func SSEEvents(resp *http.Response, buffer int) <-chan SSEEvent {
	out := make(chan SSEEvent, buffer)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev SSEEvent
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev.ID != "" || ev.Event != "" || ev.Data != nil {
					out <- ev
				}
				ev = SSEEvent{}
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				if ev.Data != nil {
					ev.Data = append(ev.Data, '\n')
				}
				ev.Data = append(append([]byte{}, ev.Data...), value...)
			}
		}
	}()
	return out
}

// NextSSE returns the next event on events, failing t when the stream
// ends or no event comes within the given time.
func NextSSE(t testing.TB, events <-chan SSEEvent, within time.Duration) SSEEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return SSEEvent{}
}
