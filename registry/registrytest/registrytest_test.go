package registrytest_test

import (
	"context"
	"testing"

	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/registrytest"
)

func TestStartServesAClientThatPages(t *testing.T) {
	r := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	for port := range 3 {
		if _, err := r.Client.Register(ctx, &registry.Instance{Name: "orders", Host: "127.0.0.1", Port: 9000 + port}); err != nil {
			t.Fatal(err)
		}
	}
	all, rev, err := r.Client.List(ctx, registry.Filter{})
	if err != nil || len(all) != 3 || rev != 3 {
		t.Fatalf("List = %d instances, revision %d, %v", len(all), rev, err)
	}
	page, _, err := r.Client.List(ctx, registry.Filter{Limit: 1, Offset: 1})
	if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
		t.Fatalf("List(limit 1, offset 1) = %v, %v", page, err)
	}
	r.Stop()
	r.Stop() // twice is fine
	if _, _, err := r.Client.List(ctx, registry.Filter{}); err == nil {
		t.Fatal("the registry still answers after Stop")
	}
}
