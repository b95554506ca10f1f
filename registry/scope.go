package registry

import "strings"

// ServiceScopePrefix starts the API-key scope that binds a key to one
// service name: registry:write:<name> lets a key register, heartbeat and
// deregister instances of <name> only (plain registry:write: any name).
const ServiceScopePrefix = "registry:write:"

// ServiceScope is the scope that binds a key to name: registry:write:<name>.
func ServiceScope(name string) string { return ServiceScopePrefix + name }

// ScopeService returns the service name a registry:write:<name> scope
// binds, and whether scope is such a scope with a valid name (ValidName).
func ScopeService(scope string) (string, bool) {
	name, ok := strings.CutPrefix(scope, ServiceScopePrefix)
	return name, ok && ValidName(name)
}
