package jwtauth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		input   string
		want    JWTAuth
		wantErr string
	}{
		{name: "bare", input: `jwt_auth`},
		{name: "empty block", input: "jwt_auth {\n}"},
		{name: "everything", input: `jwt_auth {
			core           http://core:8082
			issuer         pb-iss
			audience       pb-aud
			jwks_refresh   1m
			key_cache_ttl  10s
			timeout        2s
			signing_secret {env.SECRET}
			default_policy public
		}`, want: JWTAuth{
			Core: "http://core:8082", Issuer: "pb-iss", Audience: "pb-aud",
			JWKSRefresh: caddy.Duration(time.Minute), KeyCacheTTL: caddy.Duration(10 * time.Second), Timeout: caddy.Duration(2 * time.Second),
			SigningSecret: "{env.SECRET}", DefaultPolicy: PolicyPublic,
		}},
		{name: "forward_authorization adds up", input: "jwt_auth {\nforward_authorization billing legacy-crm\nforward_authorization orders\n}",
			want: JWTAuth{ForwardAuthorization: []string{"billing", "legacy-crm", "orders"}}},
		{name: "forward_authorization without a name", input: "jwt_auth {\nforward_authorization\n}", wantErr: "wrong argument count"},
		{name: "forward_authorization bad name", input: "jwt_auth {\nforward_authorization Orders\n}", wantErr: `"Orders" is not a service name`},
		{name: "later value wins", input: "jwt_auth {\ncore http://a\ncore http://b\n}", want: JWTAuth{Core: "http://b"}},
		{name: "argument on the directive", input: `jwt_auth http://core`, wantErr: "wrong argument count"},
		{name: "unknown option", input: "jwt_auth {\nrealm x\n}", wantErr: `unknown jwt_auth option "realm"`},
		{name: "missing value", input: "jwt_auth {\ncore\n}", wantErr: "wrong argument count"},
		{name: "extra value", input: "jwt_auth {\nissuer a b\n}", wantErr: "wrong argument count"},
		{name: "bad duration", input: "jwt_auth {\njwks_refresh soon\n}", wantErr: `bad jwks_refresh duration "soon"`},
		{name: "zero duration", input: "jwt_auth {\nkey_cache_ttl 0s\n}", wantErr: "key_cache_ttl must be positive"},
		{name: "negative duration", input: "jwt_auth {\ntimeout -1s\n}", wantErr: "timeout must be positive"},
		{name: "feed options", input: "jwt_auth {\nmax_token_ttl 1h\nfeed_max_staleness 10s\nstale_feed refuse\n}",
			want: JWTAuth{MaxTokenTTL: caddy.Duration(time.Hour), FeedMaxStaleness: caddy.Duration(10 * time.Second), StaleFeed: StaleFeedRefuse}},
		{name: "stale_feed accept", input: "jwt_auth {\nstale_feed accept\n}", want: JWTAuth{StaleFeed: StaleFeedAccept}},
		{name: "bad stale_feed", input: "jwt_auth {\nstale_feed open\n}", wantErr: "stale_feed must be verify, accept or refuse"},
		{name: "zero max_token_ttl", input: "jwt_auth {\nmax_token_ttl 0\n}", wantErr: "max_token_ttl must be positive"},
		{name: "bad feed_max_staleness", input: "jwt_auth {\nfeed_max_staleness x\n}", wantErr: `bad feed_max_staleness duration "x"`},
		{name: "bad policy", input: "jwt_auth {\ndefault_policy open\n}", wantErr: "default_policy must be authenticated or public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got JWTAuth
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
}

// TestDirectiveOrder checks that jwt_auth lands after plugboard_route and
// before reverse_proxy whatever order a Caddyfile lists them in.
func TestDirectiveOrder(t *testing.T) {
	const input = `:8080 {
		handle /api/* {
			reverse_proxy 127.0.0.1:9
			jwt_auth {
				core http://core:8082
			}
			plugboard_route
		}
	}`
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(cfg)
	route, auth, proxy := strings.Index(s, `"handler":"plugboard_route"`), strings.Index(s, `"handler":"jwt_auth"`), strings.Index(s, `"handler":"reverse_proxy"`)
	if route < 0 || auth < 0 || proxy < 0 || !(route < auth && auth < proxy) {
		t.Errorf("handler order route %d, jwt_auth %d, reverse_proxy %d in %s", route, auth, proxy, s)
	}
	if !strings.Contains(s, `"handler":"jwt_auth","core":"http://core:8082"`) && !strings.Contains(s, `"core":"http://core:8082","handler":"jwt_auth"`) {
		t.Errorf("jwt_auth config missing from %s", s)
	}
}
