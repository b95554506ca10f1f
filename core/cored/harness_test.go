package cored_test

import (
	"bytes"
	"maps"
	"testing"

	"github.com/plugboard/plugboard/core/coretest"
	"github.com/plugboard/plugboard/internal/testenv"
)

const adminPassword = coretest.AdminPassword

type backend struct {
	name string
	env  func(t testing.TB) map[string]string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) map[string]string { return map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir()} }},
	{"postgres+redis", func(t testing.TB) map[string]string {
		redisURL, prefix := testenv.RedisURL(t)
		return map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir(), "PLUGBOARD_DATABASE_URL": testenv.PostgresURL(t),
			"PLUGBOARD_REDIS_URL": redisURL, "PLUGBOARD_REDIS_PREFIX": prefix}
	}},
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

type coreServer struct {
	t      testing.TB
	URL    string
	stdout *bytes.Buffer
}

func start(t testing.TB, env map[string]string, extra ...string) *coreServer {
	t.Helper()
	vars := map[string]string{}
	maps.Copy(vars, env)
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	var out bytes.Buffer
	hs := coretest.Start(t, coretest.Options{Env: vars, Stdout: &out})
	return &coreServer{t: t, URL: hs.URL, stdout: &out}
}

// response is an answer read in full (testenv.Response).
type response = testenv.Response

// do sends a request with a bearer token (if token != ""); see testenv.Do
// for body.
func (c *coreServer) do(method, path, token string, body any) response {
	c.t.Helper()
	var auth []string
	if token != "" {
		auth = []string{"Authorization", "Bearer " + token}
	}
	return testenv.Do(c.t, method, c.URL+path, body, auth...)
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func (c *coreServer) login(tenant, username, password string) tokens {
	c.t.Helper()
	r := c.do("POST", "/api/auth/login", "", map[string]string{"tenant": tenant, "username": username, "password": password})
	if r.Status != 200 {
		c.t.Fatalf("login %s/%s: %d %s", tenant, username, r.Status, r.Body)
	}
	var tk tokens
	r.Decode(c.t, &tk)
	return tk
}

// mustCreate posts body and returns the decoded "id" of a 201 answer.
func (c *coreServer) mustCreate(path, token string, body any) string {
	c.t.Helper()
	r := c.do("POST", path, token, body)
	if r.Status != 201 {
		c.t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
	}
	var v struct {
		ID     string `json:"id"`
		APIKey struct {
			ID string `json:"id"`
		} `json:"api_key"`
	}
	r.Decode(c.t, &v)
	if v.ID == "" {
		v.ID = v.APIKey.ID
	}
	return v.ID
}
