"""End to end through the real gateway: login at core, call the notes
example at /api/{service}/…, and check that jwt_auth's signed identity
verifies in the plugin (path = what the service receives, base path
included).

Opt-in, because building Caddy is slow on a cold cache: set
PLUGBOARD_GATEWAY_BIN to a built bin/plugboard-gateway, or
PLUGBOARD_TEST_GATEWAY=1 to build it here."""

from __future__ import annotations

import os
import sys
import unittest

import harness
import plugboard
from harness import REGISTRY_TOKEN, SIGNING_SECRET, Core, Gateway, Plugin, Registry, clean_env, http_json, wait_until

ENABLED = bool(os.environ.get("PLUGBOARD_GATEWAY_BIN") or os.environ.get("PLUGBOARD_TEST_GATEWAY"))


@unittest.skipUnless(ENABLED, "set PLUGBOARD_GATEWAY_BIN or PLUGBOARD_TEST_GATEWAY=1 to run through the gateway")
class GatewayEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cleanups = []
        try:
            cls.registry = Registry().start()
            cls.cleanups.append(cls.registry.cleanup)
            cls.core = Core().start()
            cls.cleanups.append(cls.core.cleanup)
            cls.gateway = Gateway(cls.registry, cls.core).start()
            cls.cleanups.append(cls.gateway.cleanup)
            cls.service = f"notes-gw-{os.getpid()}"
            cls.plugin = Plugin([sys.executable, str(harness.NOTES_EXAMPLE)], clean_env(
                PLUGBOARD_SERVICE_NAME=cls.service, PLUGBOARD_SERVICE_PORT="0", PLUGBOARD_SERVICE_BASE_PATH="/v1",
                PLUGBOARD_REGISTRY_URL=cls.registry.url, PLUGBOARD_REGISTRY_TOKEN=REGISTRY_TOKEN,
                PLUGBOARD_SERVICE_KEY=plugboard.service_key(SIGNING_SECRET, cls.service)))
            cls.cleanups.append(cls.plugin.stop)
            cls.plugin.wait_line("notes: listening on")
            cls.token = cls.core.login()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for fn in reversed(cls.cleanups):
            fn()

    def via_gateway(self, method, path, body=None, token=None):
        headers = {"Authorization": "Bearer " + (token or self.token)} if token is not False else {}
        return http_json(method, f"{self.gateway.url}/api/{self.service}{path}", body, headers=headers)

    def test_signed_identity_reaches_the_plugin(self):
        # Routable once the gateway's change feed delivered the registration.
        wait_until(lambda: self.via_gateway("GET", "/health", token=False)[0] == 200, timeout=10,
                   what="the route to the plugin")
        status, _, note = self.via_gateway("POST", "/notes", {"text": "through the gateway"})
        self.assertEqual(status, 201, note)
        status, _, notes = self.via_gateway("GET", "/notes")
        self.assertEqual((status, [n["text"] for n in notes]), (200, ["through the gateway"]))
        status, _, got = self.via_gateway("GET", f"/notes/{note['id']}")
        self.assertEqual((status, got["id"]), (200, note["id"]))
        # super_admin passes the endpoint's required_roles.
        self.assertEqual(self.via_gateway("DELETE", f"/notes/{note['id']}")[0], 204)

    def test_gateway_refuses_without_credentials(self):
        wait_until(lambda: self.via_gateway("GET", "/health", token=False)[0] == 200, timeout=10,
                   what="the route to the plugin")
        self.assertEqual(self.via_gateway("GET", "/notes", token=False)[0], 401)
        # A client cannot smuggle identity headers past the gateway.
        status, _, _ = http_json("GET", f"{self.gateway.url}/api/{self.service}/notes", headers={
            "X-Plugboard-User-Id": "u", "X-Plugboard-Tenant-Id": "t", "X-Plugboard-Timestamp": "1",
            "X-Plugboard-Signature": "0" * 64})
        self.assertEqual(status, 401)


if __name__ == "__main__":
    unittest.main()
