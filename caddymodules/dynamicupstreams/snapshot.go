package dynamicupstreams

import (
	"encoding/json"
	"net"
	"sort"
	"strconv"

	"github.com/plugboard/plugboard/registry"
)

// Snapshot is an immutable view of the registry, as the gateway routes by it.
type Snapshot struct {
	// Revision is the registry revision the snapshot reflects.
	Revision int64
	// Services maps every service name the gateway has seen, including
	// those with no live instance right now (they answer 503, not 404).
	Services map[string]*Service
}

// Service is one service name's routing data.
type Service struct {
	Name string
	// BasePath is the newest instance's base path; only instances that
	// share it are routed to, since reverse_proxy rewrites the URI once,
	// before it picks an instance.
	BasePath string
	// Dials are the routable instances' host:port, sorted, stable.
	Dials []string
	// Endpoints, Metadata and UndeclaredPaths are the newest instance's.
	Endpoints []registry.Endpoint
	Metadata  json.RawMessage
	// UndeclaredPaths says whether requests that match no endpoint are
	// refused (registry.UndeclaredDeny); empty means authenticated.
	UndeclaredPaths registry.UndeclaredPaths
	// Resilience is the newest instance's timeout and retries, parsed.
	Resilience serviceResilience
	// Registered counts the active instances, routable or not.
	Registered int
	// Versions are the versions of the routable instances, sorted
	// (unversioned instances are in Dials only), and ByVersion their dials:
	// what routing rules choose from (registry.Choose).
	Versions  []string
	ByVersion map[string][]string
}

// build derives a snapshot from the active instances by ID and the names
// seen so far.
func build(rev int64, active map[string]*registry.Instance, known map[string]bool) *Snapshot {
	byName := map[string][]*registry.Instance{}
	for _, in := range active {
		byName[in.Name] = append(byName[in.Name], in)
	}
	s := &Snapshot{Revision: rev, Services: make(map[string]*Service, len(known))}
	for name := range known {
		s.Services[name] = &Service{Name: name}
	}
	for name, list := range byName {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		newest := list[0]
		for _, in := range list[1:] {
			if in.UpdatedAt.After(newest.UpdatedAt) {
				newest = in
			}
		}
		svc := &Service{Name: name, BasePath: newest.BasePath, Endpoints: newest.Endpoints,
			Metadata: newest.Metadata, UndeclaredPaths: newest.UndeclaredPaths, Registered: len(list),
			Resilience: parseResilience(newest.Resilience)}
		for _, in := range list {
			if in.BasePath == svc.BasePath && in.Health != registry.HealthUnhealthy {
				dial := net.JoinHostPort(in.Host, strconv.Itoa(in.Port))
				svc.Dials = append(svc.Dials, dial)
				if in.Version != "" {
					if svc.ByVersion == nil {
						svc.ByVersion = map[string][]string{}
					}
					if svc.ByVersion[in.Version] == nil {
						svc.Versions = append(svc.Versions, in.Version)
					}
					svc.ByVersion[in.Version] = append(svc.ByVersion[in.Version], dial)
				}
			}
		}
		sort.Strings(svc.Versions)
		s.Services[name] = svc
	}
	return s
}

// state is what the app knows and the snapshot is built from. Only the
// app's sync goroutine touches it.
type state struct {
	rev    int64
	active map[string]*registry.Instance
	known  map[string]bool
}

func newState() *state {
	return &state{rev: -1, active: map[string]*registry.Instance{}, known: map[string]bool{}}
}

// apply records one instance's new state.
func (st *state) apply(in *registry.Instance) {
	st.known[in.Name] = true
	if in.IsActive {
		st.active[in.ID] = in
	} else {
		delete(st.active, in.ID)
	}
}

// replace resets the active set to list (a snapshot or a full listing,
// which may include inactive instances).
func (st *state) replace(rev int64, list []*registry.Instance) {
	st.rev = rev
	st.active = make(map[string]*registry.Instance, len(list))
	for _, in := range list {
		st.apply(in)
	}
}
