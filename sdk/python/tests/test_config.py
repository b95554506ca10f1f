"""The configuration-center client against a real plugboard-core process,
and the notes example reading its limit from it."""

from __future__ import annotations

import json
import os
import queue
import re
import sys
import unittest
from datetime import datetime

import harness
from harness import (ADMIN_PASSWORD, REGISTRY_TOKEN, SIGNING_SECRET, Core, Plugin, Registry, clean_env, http_json,
                     wait_until)
from plugboard import ConfigChange, ConfigClient, ConfigEntry, ConfigWatch, HTTPError, PasswordLogin, service_key, signed_headers


class ConfigClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.core = Core().start()
        cls.token = cls.core.login()

    @classmethod
    def tearDownClass(cls):
        cls.core.cleanup()

    def test_get_and_list(self):
        self.core.put_config(self.token, "cfgtest", "limits", {"max": 3})
        self.core.put_config(self.token, "cfgtest", "limits", {"max": 4})
        client = ConfigClient(self.core.url, self.token)
        self.assertEqual(client.get("cfgtest", "limits"), {"max": 4})
        entry = client.get_entry("cfgtest", "limits")
        self.assertIsInstance(entry, ConfigEntry)
        self.assertEqual((entry.version, entry.scope, entry.tenant_id, entry.value), (2, "global", "", {"max": 4}))
        self.assertEqual(entry.updated_by.name, "admin")
        self.assertIsInstance(entry.updated_at, datetime)
        self.assertEqual(entry["version"], 2)  # dict-style reads still work
        self.assertEqual([e.key for e in client.list("cfgtest")], ["limits"])
        self.assertEqual(client.get("cfgtest", "absent", default=7), 7)
        with self.assertRaises(HTTPError) as cm:
            client.get("cfgtest", "absent")
        self.assertEqual(cm.exception.status, 404)
        # The admin's own tenant: scope=tenant without a tenant id.
        self.core.put_config(self.token, "cfgtest", "theme", "dark", scope="tenant")
        self.assertEqual(client.get("cfgtest", "theme", scope="tenant"), "dark")
        self.assertEqual(client.get("cfgtest", "theme", default=None), None)  # not global

    def test_keys_with_slashes_and_reserved_last_segments(self):
        client = ConfigClient(self.core.url, self.token)
        for key in ("a/b/c", "feature/history"):
            path = client.entry_path("cfgtest", key)
            status, _, body = http_json("PUT", self.core.url + path + "?scope=global", {"value": key},
                                        headers={"Authorization": "Bearer " + self.token})
            self.assertIn(status, (200, 201), body)
            self.assertEqual(client.get("cfgtest", key), key)
        self.assertEqual(client.entry_path("svc", "feature/history"), "/api/config/svc/feature%2Fhistory")

    def test_bad_credential(self):
        with self.assertRaises(HTTPError) as cm:
            ConfigClient(self.core.url, "not-a-token").get("cfgtest", "limits")
        self.assertEqual(cm.exception.status, 401)

    def test_password_login_credential(self):
        self.core.put_config(self.token, "cfgtest", "login", True)
        login = PasswordLogin(self.core.url, "admin", ADMIN_PASSWORD)
        client = ConfigClient(self.core.url, login)
        self.assertIs(client.get("cfgtest", "login"), True)
        first = login.token()
        self.assertEqual(login.token(), first)  # cached
        self.assertNotEqual(login.token(force=True), first)  # refreshed
        self.assertIs(client.get("cfgtest", "login"), True)

    def test_watch_calls_back_on_changes(self):
        self.core.put_config(self.token, "watched", "limit", 1)
        self.core.put_config(self.token, "other", "limit", 1)
        changes, snapshots = queue.Queue(), queue.Queue()
        client = ConfigClient(self.core.url, self.token)
        with client.watch("watched", changes.put, on_snapshot=snapshots.put) as w:
            snap = snapshots.get(timeout=5)
            self.assertEqual([(e.key, e.value) for e in snap], [("limit", 1)])
            self.core.put_config(self.token, "other", "limit", 2)  # another service: not reported
            self.core.put_config(self.token, "watched", "limit", 2)
            ch = changes.get(timeout=5)
            self.assertIsInstance(ch, ConfigChange)
            self.assertEqual((ch.service, ch.key, ch.value, ch.version, ch.deleted, ch.scope),
                             ("watched", "limit", 2, 2, False, "global"))
            self.core.delete_config(self.token, "watched", "limit")
            ch = changes.get(timeout=5)
            self.assertEqual((ch["key"], ch["deleted"], ch["value"]), ("limit", True, None))
            self.assertTrue(changes.empty())
            self.assertTrue(w.connected.is_set())
        self.assertFalse(w._thread.is_alive())


class WatchReconnectTest(unittest.TestCase):
    """The watch survives a core restart and reports what changed meanwhile, once."""

    def test_reconnects_after_core_restart(self):
        core = Core().start()
        self.addCleanup(core.cleanup)
        token = core.login()
        core.put_config(token, "rc", "a", 1)
        core.put_config(token, "rc", "gone", 1)
        changes = queue.Queue()
        w = ConfigClient(core.url, token).watch("rc", changes.put, retry_max=0.5)
        self.addCleanup(w.stop)
        wait_until(w.connected.is_set, what="the watch to connect")
        core.stop()
        wait_until(lambda: not w.connected.is_set(), what="the watch to notice")
        restarted = Core(data_dir=core.data_dir, port=core.port).start()
        self.addCleanup(restarted.stop)
        restarted.put_config(token, "rc", "a", 2)  # the signing key survived: the token is still valid
        restarted.delete_config(token, "rc", "gone")
        got = {}
        for _ in range(2):
            ch = changes.get(timeout=10)
            got[ch["key"]] = (ch["deleted"], ch["value"])
        self.assertEqual(got, {"a": (False, 2), "gone": (True, None)})
        restarted.put_config(token, "rc", "a", 3)
        self.assertEqual(changes.get(timeout=5)["value"], 3)
        self.assertTrue(changes.empty())

    def test_snapshot_diff_after_reconnect(self):
        got = []
        w = ConfigWatch(ConfigClient("http://127.0.0.1:1"), "s", got.append)
        snap = lambda *entries: json.dumps({"scope": "global", "tenant_id": "", "service": "s", "entries": [
            {"scope": "global", "tenant_id": "", "service": "s", "key": k, "version": v, "value": val}
            for k, v, val in entries]})
        w._dispatch("snapshot", snap(("a", 1, "x"), ("b", 4, "y")))
        w._dispatch("change", json.dumps({"scope": "global", "tenant_id": "", "service": "s", "key": "a",
                                          "version": 2, "deleted": False, "value": "x2"}))
        self.assertTrue(w._dispatch("reconnect", "{}"))
        # After a reconnect: a changed, b deleted, c new; nothing twice.
        w._dispatch("snapshot", snap(("a", 3, "x3"), ("c", 1, "z")))
        w._dispatch("change", json.dumps({"scope": "global", "tenant_id": "", "service": "s", "key": "a",
                                          "version": 3, "deleted": False, "value": "x3"}))
        w._dispatch("change", json.dumps({"scope": "global", "tenant_id": "", "service": "s", "key": "b",
                                          "version": 5, "deleted": True, "value": None}))
        self.assertEqual([(c["key"], c["version"], c["deleted"], c["value"]) for c in got], [
            ("a", 2, False, "x2"), ("a", 3, False, "x3"), ("c", 1, False, "z"), ("b", 5, True, None)])


class NotesWithConfigTest(unittest.TestCase):
    """The notes example takes max_note_length from the configuration
    center and follows its changes."""

    def test_max_note_length_from_config_center(self):
        core = Core().start()
        self.addCleanup(core.cleanup)
        registry = Registry().start()
        self.addCleanup(registry.cleanup)
        token = core.login()
        core.put_config(token, "notes", "max_note_length", 10)
        name = f"notes-cfg-{os.getpid()}"
        p = Plugin([sys.executable, str(harness.NOTES_EXAMPLE)], clean_env(
            PLUGBOARD_SERVICE_NAME=name, PLUGBOARD_SERVICE_PORT="0", PLUGBOARD_REGISTRY_URL=registry.url,
            PLUGBOARD_REGISTRY_TOKEN=REGISTRY_TOKEN, PLUGBOARD_GATEWAY_SIGNING_SECRET=SIGNING_SECRET,
            PLUGBOARD_CORE_URL=core.url, PLUGBOARD_CORE_USERNAME="admin", PLUGBOARD_CORE_PASSWORD=ADMIN_PASSWORD))
        self.addCleanup(p.stop)
        base = re.search(r"(http://[^ ]+?) ", p.wait_line("notes: listening on")).group(1)

        def post(text):
            # The plugin has only the legacy master secret: it derives its own key.
            h = signed_headers(service_key(SIGNING_SECRET, name), "POST", "/notes", service=name, user_id="u", tenant_id="t")
            return http_json("POST", base + "/notes", {"text": text}, headers=h)

        status, _, body = post("x" * 11)
        self.assertEqual((status, body["errors"]["text"]), (422, "must be at most 10 characters"))
        self.assertEqual(post("x" * 10)[0], 201)
        core.put_config(token, "notes", "max_note_length", 20)
        wait_until(lambda: post("y" * 15)[0] == 201, timeout=5, what="the new limit")


if __name__ == "__main__":
    unittest.main()
