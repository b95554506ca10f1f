"""run(): a plugin process registers once listening and, on SIGTERM or
SIGINT, deregisters first, finishes in-flight requests and exits 0."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import unittest
from pathlib import Path

import harness
from harness import REGISTRY_TOKEN, SIGNING_SECRET, Plugin, Registry, clean_env, http_json, wait_until

SLOW_PLUGIN = Path(__file__).with_name("plugin_slow.py")


class RunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = Registry().start()

    @classmethod
    def tearDownClass(cls):
        cls.registry.cleanup()

    def start(self, name: str, **env: str) -> tuple[Plugin, int]:
        p = Plugin([sys.executable, str(SLOW_PLUGIN)], clean_env(
            PLUGBOARD_SERVICE_NAME=name, PLUGBOARD_SERVICE_PORT="0", PLUGBOARD_REGISTRY_URL=self.registry.url,
            PLUGBOARD_REGISTRY_TOKEN=REGISTRY_TOKEN, PLUGBOARD_HEARTBEAT_INTERVAL="0.3", **env))
        self.addCleanup(p.stop)
        port = int(p.wait_line("port ").split()[1])
        p.wait_line("registered ")
        return p, port

    def test_sigterm_drains_in_flight_requests_after_deregistering(self):
        name = f"slow-term-{os.getpid()}"
        p, port = self.start(name, SLOW_SECONDS="1.0")
        listed = self.registry.services(name)
        self.assertEqual([i["port"] for i in listed], [port])

        result = {}

        def call():
            result["answer"] = http_json("GET", f"http://127.0.0.1:{port}/slow", timeout=10)

        t = threading.Thread(target=call)
        t.start()
        p.wait_line("in-flight")
        p.proc.send_signal(signal.SIGTERM)
        # Deregistered at once, while the request is still being served.
        wait_until(lambda: not self.registry.services(name), timeout=0.8, what="deregistration")
        self.assertIsNone(p.proc.poll())
        self.assertEqual(p.proc.wait(10), 0, p.errors)
        t.join(5)
        self.assertEqual(result["answer"][0], 200)  # the in-flight request completed
        self.assertEqual(result["answer"][2], {"path": "/slow"})
        p.wait_line("done")
        inactive = self.registry.services(name, include_inactive=True)
        self.assertEqual([i["is_active"] for i in inactive], [False])

    def test_sigint_stops_cleanly_too(self):
        name = f"slow-int-{os.getpid()}"
        p, port = self.start(name)
        self.assertEqual(http_json("GET", f"http://127.0.0.1:{port}/x")[0], 200)
        started = time.monotonic()
        p.proc.send_signal(signal.SIGINT)
        self.assertEqual(p.proc.wait(10), 0, p.errors)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(self.registry.services(name), [])
        self.assertFalse(any("Traceback" in line for line in p.errors), p.errors)

    def test_notes_example_exits_0_and_deregisters_on_sigterm(self):
        p = Plugin([sys.executable, str(harness.NOTES_EXAMPLE)], clean_env(
            PLUGBOARD_SERVICE_NAME=f"notes-term-{os.getpid()}", PLUGBOARD_SERVICE_PORT="0",
            PLUGBOARD_REGISTRY_URL=self.registry.url, PLUGBOARD_REGISTRY_TOKEN=REGISTRY_TOKEN,
            PLUGBOARD_GATEWAY_SIGNING_SECRET=SIGNING_SECRET))
        self.addCleanup(p.stop)
        p.wait_line("notes: listening on")
        name = f"notes-term-{os.getpid()}"
        wait_until(lambda: self.registry.services(name), what="registration")
        p.proc.send_signal(signal.SIGTERM)
        self.assertEqual(p.proc.wait(10), 0, p.errors)
        p.wait_line("notes: stopped")
        self.assertEqual(self.registry.services(name), [])


if __name__ == "__main__":
    unittest.main()
