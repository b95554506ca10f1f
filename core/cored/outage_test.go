package cored_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// TestDatabaseOutageIsNotACredentialVerdict performs issue 12's findings 1,
// 2 and 7: while the database is unreachable, a valid access token, API
// key check or login must get 503 with Retry-After, never 401 (which makes
// clients throw their credentials away) nor 429, and correct logins after
// the outage must not find the user locked out by failures the outage
// caused.
func TestDatabaseOutageIsNotACredentialVerdict(t *testing.T) {
	t.Parallel()
	pg, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewFaultProxy(t, pg.Host)
	pg.Host = proxy.Addr()
	c := start(t, map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir(), "PLUGBOARD_DATABASE_URL": pg.String()})

	tk := c.login("default", "admin", adminPassword)
	if r := c.do("GET", "/api/auth/me", tk.AccessToken, nil); r.Status != 200 {
		t.Fatalf("me before the outage: %d %s", r.Status, r.Body)
	}

	proxy.Down()
	unavailable := func(what string, r response) {
		t.Helper()
		if r.Status != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), "/problems/unavailable") {
			t.Errorf("%s during the outage: %d Retry-After=%q %s; want 503 unavailable with Retry-After",
				what, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	unavailable("GET /api/auth/me", c.do("GET", "/api/auth/me", tk.AccessToken, nil))
	unavailable("POST /api/auth/verify (access token)", c.do("POST", "/api/auth/verify", tk.AccessToken, nil))
	unavailable("POST /api/auth/refresh", c.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}))
	for range 8 { // more than the throttle's 5 failures per (user, address)
		unavailable("POST /api/auth/login", c.do("POST", "/api/auth/login", "",
			map[string]string{"tenant": "default", "username": "admin", "password": adminPassword}))
	}

	proxy.Up()
	testenv.Eventually(t, 10*time.Second, func() bool {
		r := c.do("GET", "/api/auth/me", tk.AccessToken, nil)
		if r.Status != 200 && r.Status != 503 {
			t.Fatalf("me after the outage: %d %s", r.Status, r.Body)
		}
		return r.Status == 200
	}, "core still answers 503 after the database came back")
	// The logins refused by the outage counted as nothing.
	c.login("default", "admin", adminPassword)
}

// TestRedisOutageKeepsThrottlingAndReadiness performs issue 12's findings 4
// and 5: with Redis unreachable, wrong passwords are still throttled (per
// replica, not fail-open), the right password still logs in, and /readyz
// says "degraded" with 200 instead of taking the replica out.
func TestRedisOutageKeepsThrottlingAndReadiness(t *testing.T) {
	t.Parallel()
	redisURL, prefix := testenv.RedisURL(t)
	ru, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewFaultProxy(t, ru.Host)
	ru.Host = proxy.Addr()
	c := start(t, map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir(), "PLUGBOARD_DATABASE_URL": testenv.PostgresURL(t),
		"PLUGBOARD_REDIS_URL": ru.String(), "PLUGBOARD_REDIS_PREFIX": prefix})
	if r := c.do("GET", "/readyz", "", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"ready"`) {
		t.Fatalf("/readyz before: %d %s", r.Status, r.Body)
	}

	proxy.Down()
	if r := c.do("GET", "/readyz", "", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"degraded"`) {
		t.Errorf("/readyz with Redis down: %d %s; want 200 degraded", r.Status, r.Body)
	}
	var statuses []int
	for range 7 {
		statuses = append(statuses, c.loginFrom("203.0.113.9", "admin", "wrong-password").Status)
	}
	if !slices.Contains(statuses[5:], 429) {
		t.Errorf("7 wrong passwords with Redis down: %v; want the attempts after the fifth refused with 429", statuses)
	}
	if r := c.loginFrom("198.51.100.7", "admin", adminPassword); r.Status != 200 {
		t.Errorf("the right password from the user's own address with Redis down: %d %s", r.Status, r.Body)
	}
}
