package ephemeral_test

import (
	"context"
	"testing"

	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/ephemeral/ephemeraltest"
	"github.com/plugboard/plugboard/internal/testenv"
)

func TestStore(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		ephemeraltest.Run(t, func(t *testing.T) ephemeral.Store {
			s := ephemeral.NewMemory()
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("redis", func(t *testing.T) {
		ephemeraltest.Run(t, func(t *testing.T) ephemeral.Store {
			url, prefix := testenv.RedisURL(t)
			s, err := ephemeral.Open(context.Background(), url, prefix)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func TestOpenRejectsUnknownScheme(t *testing.T) {
	if _, err := ephemeral.Open(context.Background(), "memcached://x", ""); err == nil {
		t.Fatal("Open accepted memcached://")
	}
}
