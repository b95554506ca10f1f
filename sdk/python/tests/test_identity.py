"""Identity headers: the gateway's signature scheme, verification, helpers
and the WSGI/ASGI middleware. No server needed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import pathlib
import threading
import time
import unittest
import unittest.mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.util import setup_testing_defaults

import harness  # noqa: F401 - fails clearly when the SDK is not installed
import plugboard
from plugboard import (Forbidden, GatewayAuthASGI, GatewayAuthWSGI, Identity, Unauthorized, require_role,
                       verify_request)

MASTER = "s3cr3t-gateway-key"
SERVICE = "notes"
SECRET = plugboard.service_key(MASTER, SERVICE)  # the key of notes
KEYS = plugboard.ServiceKeys(SERVICE, SECRET)
TS = "1767225600"

# Shared with the Go SDK and the gateway (sdk/testdata/signatures.json),
# produced by jwtauth.ServiceKey and jwtauth.Sign.
VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[2] / "testdata" / "signatures.json").read_text("utf-8"))


def gateway_sign(secret: str, method: str, path: str, user: str, tenant: str, roles: str, scopes: str, ts: str,
                 service: str = SERVICE) -> str:
    """sign.go, transcribed independently of the SDK: hex HMAC-SHA256 over
    service\\nmethod\\npath\\nuser\\ntenant\\nroles\\nscopes\\ntimestamp (UTF-8)."""
    msg = "\n".join([service, method, path, user, tenant, roles, scopes, ts]).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()


def headers_for(method: str, path: str, *, secret: str = SECRET, user: str = "u-1", tenant: str = "t-1",
                roles: str = "user", scopes: str = "", ts: str | None = None, service: str = SERVICE) -> dict[str, str]:
    ts = ts if ts is not None else str(int(time.time()))
    return {
        "X-Plugboard-User-Id": user, "X-Plugboard-Tenant-Id": tenant, "X-Plugboard-Roles": roles,
        "X-Plugboard-Scopes": scopes, "X-Plugboard-Timestamp": ts,
        "X-Plugboard-Signature": gateway_sign(secret, method, path, user, tenant, roles, scopes, ts, service),
    }


def vector_headers(v: dict[str, str]) -> dict[str, str]:
    """A vector's headers as http.server would hand them over (ISO-8859-1)."""
    return {"X-Plugboard-User-Id": v["user"].encode("utf-8").decode("latin-1"),
            "X-Plugboard-Tenant-Id": v["tenant"].encode("utf-8").decode("latin-1"),
            "X-Plugboard-Roles": v["roles"], "X-Plugboard-Scopes": v["scopes"],
            "X-Plugboard-Timestamp": v["timestamp"], "X-Plugboard-Signature": v["signature"]}


class ServiceKeyTest(unittest.TestCase):
    """Per-service keys: a plugin verifies only with its own."""

    def test_vectors_match_the_go_implementation(self):
        for v in VECTORS:
            self.assertEqual(plugboard.service_key(v["master"], v["service"]), v["servicekey"], v["name"])
            fields = (v["method"], v["path"], v["user"], v["tenant"], v["roles"], v["scopes"], v["timestamp"])
            self.assertEqual(plugboard.sign(v["servicekey"], *fields, service=v["service"]), v["signature"], v["name"])
            self.assertEqual(gateway_sign(v["servicekey"], *fields, service=v["service"]), v["signature"], v["name"])
            keys = plugboard.ServiceKeys(v["service"], v["servicekey"])
            ident = verify_request(vector_headers(v), v["method"], v["path"], keys, now=int(v["timestamp"]))
            self.assertIsNotNone(ident, v["name"])
            self.assertEqual(ident.tenant_id, v["tenant"])

    def test_a_request_signed_for_another_service_is_refused(self):
        billing = plugboard.service_key(MASTER, "billing")
        forged = headers_for("GET", "/notes", secret=billing, service="billing", roles="super_admin")
        self.assertIsNone(verify_request(forged, "GET", "/notes", KEYS))
        # notes' own key, but signed for billing; billing's key, signed for notes; the master.
        self.assertIsNone(verify_request(headers_for("GET", "/notes", service="billing"), "GET", "/notes", KEYS))
        self.assertIsNone(verify_request(headers_for("GET", "/notes", secret=billing), "GET", "/notes", KEYS))
        self.assertIsNone(verify_request(headers_for("GET", "/notes", secret=MASTER), "GET", "/notes", KEYS))
        # And billing refuses what notes' key signs.
        self.assertIsNone(verify_request(headers_for("GET", "/notes"), "GET", "/notes",
                                         plugboard.ServiceKeys("billing", billing)))
        for v in VECTORS:  # the same request, signed for two services
            for w in VECTORS:
                if v["service"] != w["service"] and v["path"] == w["path"]:
                    self.assertIsNone(verify_request(vector_headers(v), v["method"], v["path"],
                                                     plugboard.ServiceKeys(w["service"], w["servicekey"]),
                                                     now=int(v["timestamp"])))

    def test_rotation_accepts_the_previous_key(self):
        new = plugboard.service_key("new-master-0123456789", SERVICE)
        rotating = plugboard.ServiceKeys(SERVICE, new, SECRET)
        self.assertIsNotNone(verify_request(headers_for("GET", "/n"), "GET", "/n", rotating))
        self.assertIsNotNone(verify_request(headers_for("GET", "/n", secret=new), "GET", "/n", rotating))
        self.assertIsNone(verify_request(headers_for("GET", "/n"), "GET", "/n", plugboard.ServiceKeys(SERVICE, new)))

    def test_keys_from_the_environment(self):
        env = {"PLUGBOARD_SERVICE_NAME": SERVICE, "PLUGBOARD_SERVICE_KEY": "k1", "PLUGBOARD_SERVICE_KEY_PREVIOUS": "k0"}
        self.assertEqual(plugboard.service_keys(env), plugboard.ServiceKeys(SERVICE, "k1", "k0"))
        self.assertEqual(plugboard.service_keys(env, service="other").service, "other")
        with self.assertNoLogs("plugboard.identity", "WARNING"):
            plugboard.service_keys(env)
        with self.assertRaisesRegex(ValueError, "PLUGBOARD_SERVICE_KEY"):
            plugboard.service_keys({"PLUGBOARD_SERVICE_NAME": SERVICE})
        with self.assertRaisesRegex(ValueError, "PLUGBOARD_SERVICE_NAME"):
            plugboard.service_keys({"PLUGBOARD_SERVICE_KEY": "k1"})

    def test_legacy_master_derives_the_own_key_with_a_warning(self):
        env = {"PLUGBOARD_SERVICE_NAME": SERVICE, "PLUGBOARD_GATEWAY_SIGNING_SECRET": MASTER}
        with self.assertLogs("plugboard.identity", "WARNING") as cm:
            keys = plugboard.service_keys(env)
        self.assertIn("legacy", cm.output[0])
        self.assertEqual(keys, KEYS)
        billing = plugboard.service_key(MASTER, "billing")
        self.assertIsNone(verify_request(headers_for("GET", "/n", secret=billing, service="billing"), "GET", "/n", keys))

    def test_keys_from_the_environment_are_derived_and_warned_about_once(self):
        env = {"PLUGBOARD_SERVICE_NAME": SERVICE, "PLUGBOARD_GATEWAY_SIGNING_SECRET": MASTER + "-env"}
        key = plugboard.service_key(MASTER + "-env", SERVICE)
        with unittest.mock.patch.dict(os.environ, env), self.assertLogs("plugboard.identity", "WARNING") as cm:
            for _ in range(3):
                self.assertIsNotNone(verify_request(headers_for("GET", "/n", secret=key), "GET", "/n"))
        self.assertEqual(len(cm.output), 1, cm.output)

    def test_a_bare_secret_is_refused(self):
        with self.assertRaises(TypeError):
            verify_request(headers_for("GET", "/n"), "GET", "/n", SECRET)


class SignatureTest(unittest.TestCase):
    def test_accepts_a_correctly_signed_request(self):
        h = headers_for("DELETE", "/v1/notes/42", roles="tenant_admin,user", scopes="notes:write,notes:read")
        ident = verify_request(h, "DELETE", "/v1/notes/42", KEYS)
        self.assertEqual(ident, Identity("u-1", "t-1", ["tenant_admin", "user"], ["notes:write", "notes:read"]))
        self.assertTrue(ident.has_role("tenant_admin"))
        self.assertFalse(ident.is_super_admin)

    def test_non_ascii_values_as_http_server_and_asgi_see_them(self):
        v = next(v for v in VECTORS if v["tenant"] != v["tenant"].encode("ascii", "ignore").decode())
        as_text = vector_headers(v)  # http.server / WSGI: ISO-8859-1 text; ASGI: bytes
        as_bytes = [(k.lower().encode(), val.encode("latin-1")) for k, val in as_text.items()]
        for h in (as_text, as_bytes):
            ident = verify_request(h, v["method"], v["path"], plugboard.ServiceKeys(v["service"], v["servicekey"]),
                                   now=int(v["timestamp"]))
            self.assertIsNotNone(ident)
            self.assertEqual(ident.tenant_id, v["tenant"])
            self.assertEqual(ident.user_id, "")

    def test_rejects_wrong_secret(self):
        h = headers_for("GET", "/notes", secret="another-secret")
        self.assertIsNone(verify_request(h, "GET", "/notes", KEYS))

    def test_rejects_tampered_path_and_method(self):
        h = headers_for("GET", "/notes")
        self.assertIsNone(verify_request(h, "GET", "/notes/1", KEYS))
        self.assertIsNone(verify_request(h, "GET", "/v1/notes", KEYS))
        self.assertIsNone(verify_request(h, "DELETE", "/notes", KEYS))
        self.assertIsNotNone(verify_request(h, "GET", "/notes", KEYS))

    def test_rejects_tampered_identity(self):
        for field, value in (("X-Plugboard-Roles", "user,super_admin"), ("X-Plugboard-Tenant-Id", "t-2"),
                             ("X-Plugboard-User-Id", "u-2"), ("X-Plugboard-Scopes", "admin"),
                             ("X-Plugboard-Signature", "0" * 64)):
            h = headers_for("GET", "/notes")
            h[field] = value
            self.assertIsNone(verify_request(h, "GET", "/notes", KEYS), field)

    def test_rejects_old_and_future_timestamps(self):
        now = int(time.time())
        self.assertIsNone(verify_request(headers_for("GET", "/n", ts=str(now - 301)), "GET", "/n", KEYS))
        self.assertIsNone(verify_request(headers_for("GET", "/n", ts=str(now + 301)), "GET", "/n", KEYS))
        self.assertIsNone(verify_request(headers_for("GET", "/n", ts=str(now - 3600)), "GET", "/n", KEYS))
        self.assertIsNotNone(verify_request(headers_for("GET", "/n", ts=str(now - 290)), "GET", "/n", KEYS))
        self.assertIsNone(verify_request(headers_for("GET", "/n", ts=str(now - 20)), "GET", "/n", KEYS,
                                         max_skew=10))

    def test_rejects_missing_malformed_and_repeated_headers(self):
        h = headers_for("GET", "/n")
        del h["X-Plugboard-Signature"]
        self.assertIsNone(verify_request(h, "GET", "/n", KEYS))
        self.assertIsNone(verify_request({}, "GET", "/n", KEYS))
        h = headers_for("GET", "/n", ts="12ab")
        self.assertIsNone(verify_request(h, "GET", "/n", KEYS))
        h = headers_for("GET", "/n")
        pairs = list(h.items()) + [("X-Plugboard-Roles", "super_admin")]
        self.assertIsNone(verify_request(pairs, "GET", "/n", KEYS))

    def test_empty_secret_is_an_error_not_an_open_door(self):
        h = headers_for("GET", "/n")
        with self.assertRaises(ValueError):
            verify_request(h, "GET", "/n", plugboard.ServiceKeys(SERVICE, ""))

    def test_signing_secret_from_environment(self):
        self.assertEqual(plugboard.signing_secret({"PLUGBOARD_GATEWAY_SIGNING_SECRET": "x" * 20}), "x" * 20)
        with self.assertRaisesRegex(ValueError, "PLUGBOARD_GATEWAY_SIGNING_SECRET"):
            plugboard.signing_secret({})

    def test_signed_headers_helper_round_trips(self):
        h = plugboard.signed_headers(KEYS, "POST", "/notes", user_id="u", tenant_id="t", roles=["a", "b"])
        self.assertEqual(h["X-Plugboard-Roles"], "a,b")
        self.assertEqual(verify_request(h, "POST", "/notes", KEYS), Identity("u", "t", ["a", "b"], []))

    def test_require_role(self):
        user = Identity("u", "t", ["user"], [])
        admin = Identity("u", "t", ["tenant_admin"], [])
        root = Identity("u", "t", ["super_admin"], [])
        self.assertIs(require_role(admin, "tenant_admin"), admin)
        self.assertIs(require_role(root, "tenant_admin"), root)
        self.assertIs(require_role(user), user)
        with self.assertRaises(Forbidden) as cm:
            require_role(user, "tenant_admin", "auditor")
        self.assertEqual(cm.exception.status, 403)
        with self.assertRaises(Unauthorized):
            require_role(None, "user")


class HandlerHelperTest(unittest.TestCase):
    """identity_from_handler on a real http.server."""

    @classmethod
    def setUpClass(cls):
        seen = cls.seen = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                ident = plugboard.identity_from_handler(self, KEYS)
                seen.append(ident)
                if ident is None:
                    return plugboard.send_problem(self, 401, "unsigned")
                plugboard.send_json(self, 200, {"user": ident.user_id, "tenant": ident.tenant_id})

        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = "http://127.0.0.1:%d" % cls.server.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def get(self, path, headers):
        return harness.http_json("GET", self.base + path, headers=headers)

    def test_signed_request_with_query_and_escapes(self):
        path = "/v1/notes/a%20b"
        status, _, body = self.get(path + "?x=1", headers_for("GET", path + "?x=1"))
        self.assertEqual((status, body), (200, {"user": "u-1", "tenant": "t-1"}))
        # The query is signed too: a signed request replayed with another
        # query is refused.
        status, _, _ = self.get(path + "?x=2", headers_for("GET", path + "?x=1"))
        self.assertEqual(status, 401)

    def test_non_ascii_identity_over_the_wire(self):
        h = plugboard.signed_headers(KEYS, "GET", "/n", user_id="u-\u00e9", tenant_id="t-\u00fc\u4e2d")
        status, _, body = self.get("/n", h)
        self.assertEqual((status, body), (200, {"user": "u-\u00e9", "tenant": "t-\u00fc\u4e2d"}))

    def test_unsigned_request_gets_problem_json(self):
        status, hdrs, body = self.get("/v1/notes", {})
        self.assertEqual(status, 401)
        self.assertEqual(hdrs["Content-Type"], "application/problem+json")
        self.assertEqual(body["type"], "/problems/unauthorized")
        self.assertEqual(body["instance"], "/v1/notes")


def wsgi_call(app, path="/notes", method="GET", headers=None, query="", raw_uri=None, script_name=""):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": script_name}
    if raw_uri:
        environ["REQUEST_URI"] = raw_uri
    setup_testing_defaults(environ)
    for k, v in (headers or {}).items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    out = {}

    def start_response(status, hdrs, exc_info=None):
        out["status"], out["headers"] = status, dict(hdrs)

    body = b"".join(app(environ, start_response))
    return out["status"], out["headers"], body, environ


class WSGIMiddlewareTest(unittest.TestCase):
    def setUp(self):
        def app(environ, start_response):
            ident = environ["plugboard.identity"]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(None if ident is None else ident.tenant_id).encode()]

        self.app = GatewayAuthWSGI(app, KEYS, public_paths={"/health"})

    def test_signed_request_passes_with_identity(self):
        status, _, body, env = wsgi_call(self.app, "/notes", headers=headers_for("GET", "/notes"))
        self.assertEqual(status, "200 OK")
        self.assertEqual(json.loads(body), "t-1")
        self.assertEqual(env["plugboard.identity"].user_id, "u-1")

    def test_unsigned_and_forged_requests_are_401_problems(self):
        for h in ({}, headers_for("GET", "/notes", secret="wrong"), headers_for("GET", "/other")):
            status, hdrs, body, _ = wsgi_call(self.app, "/notes", headers=h)
            self.assertEqual(status, "401 Unauthorized")
            self.assertEqual(hdrs["Content-Type"], "application/problem+json")
            self.assertEqual(json.loads(body)["status"], 401)

    def test_public_path_passes_without_identity(self):
        status, _, body, _ = wsgi_call(self.app, "/health")
        self.assertEqual((status, json.loads(body)), ("200 OK", None))

    def test_signed_path_is_the_received_one(self):
        # Mounted under SCRIPT_NAME /v1, PATH_INFO decoded: the signature
        # covers /v1/notes/a%20b as received.
        h = headers_for("GET", "/v1/notes/a%20b")
        status, *_ = wsgi_call(self.app, "/notes/a b", headers=h, script_name="/v1")
        self.assertEqual(status, "200 OK")
        status, *_ = wsgi_call(self.app, "/notes/a b", headers=headers_for("GET", "/v1/notes/a%20b?q=1"),
                               raw_uri="/v1/notes/a%20b?q=1")
        self.assertEqual(status, "200 OK")
        status, *_ = wsgi_call(self.app, "/notes/a b", headers=h, raw_uri="/v1/notes/a%20b?q=1")
        self.assertEqual(status, "401 Unauthorized")


class ASGIMiddlewareTest(unittest.TestCase):
    def run_app(self, scope):
        seen = {}

        async def app(scope, receive, send):
            seen["scope"] = scope
            if scope["type"] == "http":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"ok"})

        mw = GatewayAuthASGI(app, KEYS, public_paths={"/health"})
        sent = []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(msg):
            sent.append(msg)

        asyncio.run(mw(scope, receive, send))
        return seen.get("scope"), sent

    @staticmethod
    def scope(path, headers=None, method="GET", kind="http", raw_path=None, state=None):
        s = {"type": kind, "method": method, "path": path, "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]}
        if raw_path is not None:
            s["raw_path"] = raw_path
        if state is not None:
            s["state"] = state
        return s

    def test_signed_request_gets_identity_in_state(self):
        shared_state = {"db": "pool"}
        scope, sent = self.run_app(self.scope("/notes/a b", headers_for("POST", "/notes/a%20b"), method="POST",
                                              raw_path=b"/notes/a%20b", state=shared_state))
        self.assertEqual(sent[0]["status"], 200)
        self.assertEqual(scope["state"]["plugboard_identity"].user_id, "u-1")
        self.assertEqual(scope["state"]["db"], "pool")
        self.assertNotIn("plugboard_identity", shared_state)  # not leaked into shared state

    def test_unsigned_request_is_401(self):
        scope, sent = self.run_app(self.scope("/notes", headers_for("GET", "/notes", secret="nope")))
        self.assertIsNone(scope)
        self.assertEqual(sent[0]["status"], 401)
        self.assertIn((b"content-type", b"application/problem+json"), sent[0]["headers"])
        self.assertEqual(json.loads(sent[1]["body"])["type"], "/problems/unauthorized")

    def test_public_path_and_lifespan_pass(self):
        scope, sent = self.run_app(self.scope("/health"))
        self.assertIsNone(scope["state"]["plugboard_identity"])
        scope, sent = self.run_app({"type": "lifespan"})
        self.assertEqual(scope["type"], "lifespan")

    def test_unsigned_websocket_is_closed(self):
        scope, sent = self.run_app(self.scope("/ws", kind="websocket"))
        self.assertIsNone(scope)
        self.assertEqual(sent, [{"type": "websocket.close", "code": 1008, "reason": "unsigned request"}])


if __name__ == "__main__":
    unittest.main()
