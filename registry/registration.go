package registry

import "encoding/json"

// Registration is the body of a register request: the registrable fields
// of an instance (the rest — id, state, times — is the registry's to set).
// The client encodes it and the registry's API decodes it.
type Registration struct {
	Name           string          `json:"name"`
	DisplayName    string          `json:"display_name,omitempty"`
	Version        string          `json:"version,omitempty"`
	Host           string          `json:"host"`
	Port           int             `json:"port"`
	BasePath       string          `json:"base_path,omitempty"`
	HealthCheckURL string          `json:"health_check_url,omitempty"`
	Endpoints      []Endpoint      `json:"endpoints,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	Tags           []string        `json:"tags,omitempty"`
	// UndeclaredPaths is the gateway's policy for paths not in Endpoints;
	// absent means UndeclaredAuthenticated, and "" is refused.
	UndeclaredPaths *UndeclaredPaths `json:"undeclared_paths,omitempty"`
	// Resilience asks for the service's upstream timeout and retries,
	// within the platform's caps; absent means the gateway's defaults.
	Resilience *Resilience `json:"resilience,omitempty"`
}

// RegistrationOf is the registration of in's registrable fields; an empty
// UndeclaredPaths is left out (the registry's default).
func RegistrationOf(in *Instance) Registration {
	r := Registration{
		Name: in.Name, DisplayName: in.DisplayName, Version: in.Version, Host: in.Host, Port: in.Port,
		BasePath: in.BasePath, HealthCheckURL: in.HealthCheckURL, Endpoints: in.Endpoints,
		Metadata: in.Metadata, Tags: in.Tags, Resilience: in.Resilience,
	}
	if in.UndeclaredPaths != "" {
		u := in.UndeclaredPaths
		r.UndeclaredPaths = &u
	}
	return r
}
