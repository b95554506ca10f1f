package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/sqlstore"
	"github.com/plugboard/plugboard/core/storetest"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/internal/testenv"
)

func TestStore(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "core.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) core.Store {
				s, err := sqlstore.Open(context.Background(), storage.Options{URL: b.url(t)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
