"""examples/notes-py, run as a process, called directly with signed
identity headers as the gateway would send them."""

from __future__ import annotations

import os
import re
import sys
import unittest

import harness
from harness import REGISTRY_TOKEN, SIGNING_SECRET, Plugin, Registry, clean_env, http_json, wait_until
from plugboard import service_key, signed_headers

NAME = f"notes-ex-{os.getpid()}"


class NotesExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = Registry().start()
        cls.plugin = Plugin([sys.executable, str(harness.NOTES_EXAMPLE)], clean_env(
            PLUGBOARD_SERVICE_NAME=NAME, PLUGBOARD_SERVICE_PORT="0", PLUGBOARD_SERVICE_BASE_PATH="/v1",
            PLUGBOARD_REGISTRY_URL=cls.registry.url, PLUGBOARD_REGISTRY_TOKEN=REGISTRY_TOKEN,
            PLUGBOARD_SERVICE_KEY=service_key(SIGNING_SECRET, NAME)))
        try:
            line = cls.plugin.wait_line("notes: listening on")
            cls.base = re.search(r"(http://[^ ]+?)/v1 ", line).group(1)
        except Exception:
            cls.plugin.stop()
            cls.registry.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.plugin.stop()
        cls.registry.cleanup()

    def call(self, method, path, body=None, *, tenant="t-1", user="u-1", roles=("user",), secret=None,
             signed_path=None, signed=True, service=NAME):
        headers = {}
        if signed:
            headers = signed_headers(secret or service_key(SIGNING_SECRET, NAME), method,
                                     signed_path or path.split("?")[0], service=service, user_id=user,
                                     tenant_id=tenant, roles=roles)
        return http_json(method, self.base + path, body, headers=headers)

    def test_registered_with_its_endpoints(self):
        inst = wait_until(lambda: self.registry.services(NAME), what="registration")[0]
        self.assertEqual(inst["base_path"], "/v1")
        self.assertEqual(inst["health_check_url"], "/health")
        eps = {(e["method"], e["path"]): e for e in inst["endpoints"]}
        self.assertTrue(eps[("GET", "/health")]["is_public"])
        self.assertEqual(eps[("DELETE", "/notes/{id}")]["required_roles"], ["tenant_admin"])
        self.assertEqual(eps[("GET", "/notes")]["required_roles"], [])

    def test_health_is_public(self):
        status, _, body = http_json("GET", self.base + "/v1/health")
        self.assertEqual((status, body), (200, {"status": "ok"}))

    def test_unsigned_or_forged_requests_are_refused(self):
        other = service_key(SIGNING_SECRET, "billing")
        for kw in ({"signed": False}, {"secret": "not-the-gateway-secret"}, {"signed_path": "/v1/other"},
                   {"secret": SIGNING_SECRET},  # the master itself
                   {"secret": other, "service": "billing", "roles": ("super_admin",)},  # signed for another service
                   {"secret": other}, {"service": "billing"}):
            status, hdrs, body = self.call("GET", "/v1/notes", **kw)
            self.assertEqual(status, 401, kw)
            self.assertEqual(hdrs["Content-Type"], "application/problem+json")
            self.assertEqual(body["type"], "/problems/unauthorized")

    def test_tenants_are_isolated(self):
        status, hdrs, note = self.call("POST", "/v1/notes", {"title": "A", "text": "alpha"}, tenant="iso-a")
        self.assertEqual(status, 201, note)
        self.assertEqual(hdrs["Location"], f"/v1/notes/{note['id']}")
        self.assertEqual(note["created_by"], "u-1")
        self.call("POST", "/v1/notes", {"text": "beta"}, tenant="iso-b")

        status, _, listed = self.call("GET", "/v1/notes", tenant="iso-a")
        self.assertEqual((status, [n["text"] for n in listed]), (200, ["alpha"]))
        status, _, listed = self.call("GET", "/v1/notes", tenant="iso-b")
        self.assertEqual([n["text"] for n in listed], ["beta"])
        self.assertEqual(self.call("GET", "/v1/notes", tenant="iso-c")[2], [])

        # Another tenant cannot read or delete it, not even its admin.
        self.assertEqual(self.call("GET", f"/v1/notes/{note['id']}", tenant="iso-b")[0], 404)
        self.assertEqual(self.call("DELETE", f"/v1/notes/{note['id']}", tenant="iso-b",
                                   roles=("tenant_admin",))[0], 404)
        self.assertEqual(self.call("GET", f"/v1/notes/{note['id']}", tenant="iso-a")[2], note)

    def test_delete_needs_tenant_admin(self):
        _, _, note = self.call("POST", "/v1/notes", {"text": "to delete"}, tenant="del")
        status, _, body = self.call("DELETE", f"/v1/notes/{note['id']}", tenant="del", roles=("user",))
        self.assertEqual((status, body["type"]), (403, "/problems/forbidden"))
        status, _, _ = self.call("DELETE", f"/v1/notes/{note['id']}", tenant="del", roles=("user", "tenant_admin"))
        self.assertEqual(status, 204)
        self.assertEqual(self.call("GET", f"/v1/notes/{note['id']}", tenant="del")[0], 404)
        self.assertEqual(self.call("DELETE", f"/v1/notes/{note['id']}", tenant="del", roles=("super_admin",))[0], 404)

    def test_validation_and_errors_are_problems(self):
        status, hdrs, body = self.call("POST", "/v1/notes", {"text": ""})
        self.assertEqual((status, body["errors"]), (422, {"text": "is required"}))
        self.assertEqual(hdrs["Content-Type"], "application/problem+json")
        status, _, body = self.call("POST", "/v1/notes", {"text": "x" * 1001, "color": "red"})
        self.assertEqual(status, 422)
        self.assertEqual(body["errors"], {"text": "must be at most 1000 characters", "color": "unknown field"})
        self.assertEqual(self.call("POST", "/v1/notes", {"text": "x" * 1000})[0], 201)
        status, hdrs, body = self.call("PUT", "/v1/notes")
        self.assertEqual((status, hdrs["Allow"]), (405, "GET, HEAD, POST"))
        self.assertEqual(self.call("GET", "/v1/nothing")[0], 404)
        self.assertEqual(self.call("GET", "/notes")[0], 404)  # outside the base path
        status, _, body = self.call("GET", "/v1/notes", tenant="")
        self.assertEqual((status, body["type"]), (403, "/problems/forbidden"))


if __name__ == "__main__":
    unittest.main()
