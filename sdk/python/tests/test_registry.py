"""Registration against a real plugboard-registry process."""

from __future__ import annotations

import itertools
import logging
import os
import time
import unittest
from datetime import datetime

import harness
from harness import REGISTRY_TOKEN, Registry, wait_until
from plugboard import (Endpoint, HTTPError, Instance, Registration, RegistrationError, RegistryClient,
                       ServiceConfig, Unavailable)

INACTIVE_AFTER = 1.5  # seconds without a heartbeat before the registry expires an instance
_names = itertools.count(1)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def config(registry: Registry, name: str, port: int = 9000, **kw) -> ServiceConfig:
    return ServiceConfig(name=name, display_name=name.title(), version="1.0.0", host="127.0.0.1", port=port,
                         registry_url=registry.url, registry_token=REGISTRY_TOKEN, **kw)


class RegistrationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = Registry(PLUGBOARD_REGISTRY_INACTIVE_AFTER=f"{int(INACTIVE_AFTER * 1000)}ms",
                                PLUGBOARD_REGISTRY_SWEEP_INTERVAL="100ms").start()

    @classmethod
    def tearDownClass(cls):
        cls.registry.cleanup()

    def active(self, name: str) -> list[dict]:
        return self.registry.services(name)

    def test_register_lists_the_instance_and_exit_deregisters(self):
        name = unique_name("life")
        cfg = config(self.registry, name, base_path="/v1", health_check_url="", tags=["py"],
                     metadata={"team": "sdk"},
                     endpoints=[Endpoint("/health", is_public=True),
                                {"path": "/items/{id}", "method": "DELETE", "required_roles": ["tenant_admin"]}])
        with Registration(cfg, heartbeat_interval=0.2) as reg:
            self.assertTrue(reg.registered.is_set())
            listed = self.active(name)
            self.assertEqual([i["id"] for i in listed], [reg.instance_id])
            inst = listed[0]
            self.assertEqual((inst["host"], inst["port"], inst["base_path"], inst["version"]),
                             ("127.0.0.1", 9000, "/v1", "1.0.0"))
            self.assertEqual(inst["metadata"], {"team": "sdk"})
            self.assertEqual(inst["tags"], ["py"])
            self.assertEqual([(e["method"], e["path"], e["is_public"], e["required_roles"]) for e in inst["endpoints"]],
                             [("GET", "/health", True, []), ("DELETE", "/items/{id}", False, ["tenant_admin"])])
            sid = reg.instance_id
        self.assertEqual(self.active(name), [])
        gone = self.registry.services(name, include_inactive=True)
        self.assertEqual([(i["id"], i["is_active"]) for i in gone], [(sid, False)])
        self.assertFalse(reg._thread.is_alive())

    def test_heartbeats_keep_the_instance_alive(self):
        name = unique_name("beat")
        client = RegistryClient(self.registry.url, token=REGISTRY_TOKEN)
        # Control: an instance nobody heartbeats expires meanwhile.
        silent = client.register({"name": name, "host": "127.0.0.1", "port": 9001})
        with Registration(config(self.registry, name, port=9002), heartbeat_interval=0.2) as reg:
            wait_until(lambda: silent["id"] not in {i["id"] for i in self.active(name)}, timeout=INACTIVE_AFTER + 3,
                       what="the silent instance to expire")
            time.sleep(INACTIVE_AFTER)
            self.assertEqual([i["id"] for i in self.active(name)], [reg.instance_id])
            self.assertGreaterEqual(reg.heartbeats, 5)
            self.assertEqual(reg.registrations, 1)

    def test_registers_again_when_deregistered_behind_its_back(self):
        name = unique_name("rereg")
        with Registration(config(self.registry, name), heartbeat_interval=0.2) as reg:
            sid = reg.instance_id
            status, _, body = self.registry.deregister(sid)
            self.assertEqual(status, 200, body)
            self.assertEqual(self.active(name), [])
            # The next heartbeat answers 404 and the SDK registers again.
            wait_until(lambda: reg.registrations == 2 and self.active(name), timeout=3, what="re-registration")
            self.assertEqual([i["id"] for i in self.active(name)], [sid])  # same name, host, port: same id
        self.assertEqual(self.active(name), [])

    def test_registers_again_after_expiry(self):
        name = unique_name("expired")
        # Heartbeats rarer than the registry's inactivity limit: the
        # instance expires, the next heartbeat gets 404, the SDK re-registers.
        with Registration(config(self.registry, name), heartbeat_interval=INACTIVE_AFTER + 0.8, jitter=0) as reg:
            wait_until(lambda: not self.active(name), timeout=INACTIVE_AFTER + 2, what="expiry")
            expired = self.registry.services(name, include_inactive=True)
            self.assertFalse(expired[0]["is_active"])
            wait_until(lambda: reg.registrations == 2 and self.active(name), timeout=3, what="re-registration")

    def test_permanent_refusals_raise(self):
        with self.assertRaises(RegistrationError) as cm:
            Registration(config(self.registry, "Not A Name")).start()
        self.assertEqual(cm.exception.__cause__.status, 422)
        self.assertIn("name", cm.exception.__cause__.errors)
        with self.assertRaises(RegistrationError) as cm:
            Registration(config(self.registry, "registry")).start()  # reserved
        self.assertEqual(cm.exception.__cause__.status, 422)
        cfg = config(self.registry, unique_name("badtoken"))
        cfg.registry_token = "wrong-token-wrong-token"
        with self.assertRaises(RegistrationError) as cm:
            Registration(cfg).start()
        self.assertEqual(cm.exception.__cause__.status, 401)

    def test_client_calls(self):
        name = unique_name("client")
        client = RegistryClient(self.registry.url, token=REGISTRY_TOKEN)
        inst = client.register({"name": name, "host": "127.0.0.1", "port": 9100})
        self.assertIsInstance(inst, Instance)
        self.assertEqual((inst.name, inst.port, inst.is_active, inst.health), (name, 9100, True, "unknown"))
        self.assertIsInstance(inst.created_at, datetime)
        beat = client.heartbeat(inst.id)
        self.assertEqual((beat.service_id, beat.status), (inst.id, "ok"))
        self.assertIsInstance(beat.last_heartbeat, datetime)
        self.assertEqual(client.get(inst.id).name, name)
        self.assertEqual([i.id for i in client.list(name=name)], [inst.id])
        self.assertEqual(inst["id"], inst.id)  # dict-style reads still work
        with self.assertRaises(HTTPError) as cm:  # reads need the credential too
            RegistryClient(self.registry.url).list(name=name)
        self.assertEqual(cm.exception.status, 401)
        again = client.register({"name": name, "host": "127.0.0.1", "port": 9100, "undeclared_paths": "deny"})
        self.assertEqual((again.id, again.undeclared_paths), (inst.id, "deny"))
        res = client.register({"name": name, "host": "127.0.0.1", "port": 9100, "resilience": {"timeout": "2s", "retries": 1}})
        self.assertEqual(res.resilience, {"timeout": "2s", "retries": 1})
        with self.assertRaises(HTTPError) as cm:  # above the platform's cap (3 by default)
            client.register({"name": name, "host": "127.0.0.1", "port": 9100, "resilience": {"retries": 100}})
        self.assertEqual(cm.exception.status, 422)
        self.assertFalse(client.deregister(inst.id).is_active)
        with self.assertRaises(HTTPError) as cm:
            client.heartbeat(inst["id"])
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(Unavailable):
            RegistryClient("http://127.0.0.1:%d" % harness.free_port(), timeout=1).list()


class OutageTest(unittest.TestCase):
    """The registry goes away (or is not there yet) and comes back empty."""

    def setUp(self):
        self.port = harness.free_port()
        self.registries: list[Registry] = []
        logging.getLogger("plugboard").setLevel(logging.ERROR)  # expected warnings

    def tearDown(self):
        logging.getLogger("plugboard").setLevel(logging.NOTSET)
        for r in self.registries:
            r.cleanup()

    def start_registry(self) -> Registry:
        r = Registry(port=self.port).start()
        self.registries.append(r)
        return r

    def test_registry_down_at_start_then_outage(self):
        name = unique_name("outage")
        cfg = ServiceConfig(name=name, host="127.0.0.1", port=9200, registry_url=f"http://127.0.0.1:{self.port}",
                            registry_token=REGISTRY_TOKEN)
        with Registration(cfg, heartbeat_interval=0.2, retry_initial=0.05, retry_max=0.2, timeout=1) as reg:
            # Nothing listens yet: entering did not raise, the thread retries.
            self.assertFalse(reg.registered.is_set())
            first = self.start_registry()
            self.assertTrue(reg.wait_registered(5))
            wait_until(lambda: first.services(name), what="registration once the registry is up")
            # Outage: the registry stops, comes back with an empty database.
            first.stop()
            wait_until(lambda: reg._failures >= 2, timeout=5, what="failed heartbeats")
            before = reg.registrations
            second = self.start_registry()
            wait_until(lambda: second.services(name), timeout=5, what="re-registration after the outage")
            self.assertEqual(reg.registrations, before + 1)
            sid = reg.instance_id
            self.assertEqual([i["id"] for i in second.services(name)], [sid])
        self.assertEqual(second.services(name), [])


if __name__ == "__main__":
    unittest.main()
