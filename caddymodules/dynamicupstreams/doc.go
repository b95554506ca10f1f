// Package dynamicupstreams routes the gateway's /api/{service}/{path}
// requests to live instances from the Plugboard registry. It holds three
// Caddy modules:
//
//   - plugboard_registry (a caddy.App, configured as a global option): keeps
//     a snapshot of the registry — services, base paths, routable instances,
//     endpoint policies — behind an atomic pointer, loaded in full at start,
//     then kept current by the registry's change feed, with a periodic full
//     resync as a safety net; while the registry is down, the last good
//     snapshot keeps serving;
//   - plugboard_route (http.handlers.plugboard_route): resolves the service
//     of a request and points it at {base_path}/{path}, answering 404 for an
//     unknown service and 503 when it has no live instance;
//   - dynamic_upstreams (http.reverse_proxy.upstreams.dynamic_upstreams): the
//     reverse_proxy upstream source that returns the service's instances from
//     the snapshot, with no I/O on the request path.
//
// What the modules share with the others (request variables, the resolved
// route, PublicError) is in package gatewayctx; errors are rendered by
// package problem's plugboard_problem.
package dynamicupstreams
