"""ServiceConfig and Endpoint: the environment and the register body."""

from __future__ import annotations

import unittest
from unittest import mock

import harness  # noqa: F401 - fails clearly when the SDK is not installed
from plugboard import ConfigurationError, Endpoint, RateLimit, ServiceConfig, runner


class ServiceConfigTest(unittest.TestCase):
    def test_from_env_overrides_code_defaults(self):
        env = {
            "PLUGBOARD_SERVICE_NAME": "orders", "PLUGBOARD_SERVICE_DISPLAY_NAME": "Orders",
            "PLUGBOARD_SERVICE_VERSION": "2.1.0", "PLUGBOARD_SERVICE_HOST": "10.0.0.7",
            "PLUGBOARD_SERVICE_BIND": "0.0.0.0", "PLUGBOARD_SERVICE_PORT": "9001",
            "PLUGBOARD_SERVICE_BASE_PATH": "/v1", "PLUGBOARD_SERVICE_HEALTH_CHECK_URL": "/healthz",
            "PLUGBOARD_SERVICE_TAGS": "blue, region=eu,", "PLUGBOARD_SERVICE_METADATA": '{"team": "shop"}',
            "PLUGBOARD_REGISTRY_URL": "http://registry:8081", "PLUGBOARD_REGISTRY_TOKEN": "t" * 20,
            "PLUGBOARD_HEARTBEAT_INTERVAL": "12.5",
        }
        cfg = ServiceConfig.from_env(env, name="default-name", port=1, metadata={"lang": "py"},
                                     endpoints=[{"path": "/items", "method": "get", "is_public": True}])
        self.assertEqual((cfg.name, cfg.display_name, cfg.version), ("orders", "Orders", "2.1.0"))
        self.assertEqual((cfg.host, cfg.listen_host, cfg.port), ("10.0.0.7", "0.0.0.0", 9001))
        self.assertEqual(cfg.tags, ["blue", "region=eu"])
        self.assertEqual(cfg.metadata, {"lang": "py", "team": "shop"})
        self.assertEqual(cfg.registry_url, "http://registry:8081")
        self.assertEqual(cfg.heartbeat_interval, 12.5)
        self.assertEqual(cfg.auth_headers(), {"Authorization": "Bearer " + "t" * 20})
        self.assertNotIn("t" * 20, repr(cfg))  # credentials stay out of logs
        self.assertEqual(cfg.registration_body(), {
            "name": "orders", "host": "10.0.0.7", "port": 9001, "display_name": "Orders", "version": "2.1.0",
            "base_path": "/v1", "health_check_url": "/healthz",
            "endpoints": [{"path": "/items", "method": "GET", "is_public": True}],
            "metadata": {"lang": "py", "team": "shop"}, "tags": ["blue", "region=eu"],
        })

    def test_defaults(self):
        cfg = ServiceConfig.from_env({}, name="x")
        self.assertEqual((cfg.host, cfg.port, cfg.registry_url, cfg.heartbeat_interval),
                         ("127.0.0.1", 0, "http://127.0.0.1:8081", 30.0))
        self.assertEqual(cfg.auth_headers(), {})

    def test_api_key_is_sent_as_x_api_key_and_wins(self):
        cfg = ServiceConfig.from_env({"PLUGBOARD_API_KEY": "pb_live_abcdefgh_secret",
                                      "PLUGBOARD_REGISTRY_TOKEN": "t" * 20}, name="x")
        self.assertEqual(cfg.auth_headers(), {"X-API-Key": "pb_live_abcdefgh_secret"})

    def test_drain_timeout_has_the_go_sdks_name(self):
        for env, want in (({}, 15.0), ({"PLUGBOARD_SHUTDOWN_TIMEOUT": "3s"}, 3.0),
                          ({"PLUGBOARD_DRAIN_TIMEOUT": "500ms", "PLUGBOARD_SHUTDOWN_TIMEOUT": "3s"}, 0.5)):
            with mock.patch.dict("os.environ", env, clear=True):
                self.assertEqual(runner._shutdown_timeout(), want, env)
        with mock.patch.dict("os.environ", {"PLUGBOARD_DRAIN_TIMEOUT": "soon"}, clear=True):
            with self.assertRaisesRegex(ConfigurationError, "PLUGBOARD_DRAIN_TIMEOUT"):
                runner._shutdown_timeout()

    def test_heartbeat_interval_takes_go_durations(self):
        for raw, want in (("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("2.5", 2.5)):
            cfg = ServiceConfig.from_env({"PLUGBOARD_HEARTBEAT_INTERVAL": raw}, name="x")
            self.assertEqual(cfg.heartbeat_interval, want, raw)

    def test_bad_values_name_the_variable(self):
        for env, var in (({"PLUGBOARD_SERVICE_PORT": "http"}, "PLUGBOARD_SERVICE_PORT"),
                         ({"PLUGBOARD_SERVICE_PORT": "70000"}, "PLUGBOARD_SERVICE_PORT"),
                         ({"PLUGBOARD_SERVICE_METADATA": "[1]"}, "PLUGBOARD_SERVICE_METADATA"),
                         ({"PLUGBOARD_SERVICE_METADATA": "{"}, "PLUGBOARD_SERVICE_METADATA"),
                         ({"PLUGBOARD_HEARTBEAT_INTERVAL": "0"}, "PLUGBOARD_HEARTBEAT_INTERVAL"),
                         ({"PLUGBOARD_HEARTBEAT_INTERVAL": "10 sec"}, "PLUGBOARD_HEARTBEAT_INTERVAL")):
            with self.assertRaisesRegex(ConfigurationError, var):
                ServiceConfig.from_env(env, name="x")
        with self.assertRaisesRegex(ConfigurationError, "PLUGBOARD_SERVICE_NAME"):
            ServiceConfig.from_env({})

    def test_undeclared_paths(self):
        cfg = ServiceConfig.from_env({"PLUGBOARD_SERVICE_UNDECLARED_PATHS": "deny"}, name="x", port=1)
        self.assertEqual(cfg.registration_body()["undeclared_paths"], "deny")
        self.assertNotIn("undeclared_paths", ServiceConfig(name="x", port=1).registration_body())
        with self.assertRaisesRegex(ConfigurationError, "PLUGBOARD_SERVICE_UNDECLARED_PATHS"):
            ServiceConfig(name="x", port=1, undeclared_paths="open").registration_body()

    def test_resilience(self):
        res = {"timeout": "2s", "retries": 1, "retry_on": ["503"]}
        self.assertEqual(ServiceConfig(name="x", port=1, resilience=res).registration_body()["resilience"], res)
        self.assertNotIn("resilience", ServiceConfig(name="x", port=1).registration_body())
        cfg = ServiceConfig.from_env({"PLUGBOARD_SERVICE_RESILIENCE": '{"timeout": "500ms"}'}, name="x", port=1)
        self.assertEqual(cfg.registration_body()["resilience"], {"timeout": "500ms"})
        for bad in ("[1]", "{"):
            with self.assertRaisesRegex(ConfigurationError, "PLUGBOARD_SERVICE_RESILIENCE"):
                ServiceConfig.from_env({"PLUGBOARD_SERVICE_RESILIENCE": bad}, name="x")

    def test_unbound_port_cannot_register(self):
        with self.assertRaisesRegex(ConfigurationError, "PLUGBOARD_SERVICE_PORT"):
            ServiceConfig(name="x").registration_body()

    def test_endpoints(self):
        e = Endpoint("/notes/{id}", "delete", "Delete", required_roles=["tenant_admin"], rate_limit={"requests": 5, "per": "1m"})
        self.assertEqual(e.to_dict(), {"path": "/notes/{id}", "method": "DELETE", "description": "Delete",
                                       "required_roles": ["tenant_admin"], "rate_limit": {"requests": 5, "per": "1m"}})
        e = Endpoint("/a", rate_limit=RateLimit(100, "1s", burst=20, key="tenant"))
        self.assertEqual(e.to_dict()["rate_limit"], {"requests": 100, "per": "1s", "burst": 20, "key": "tenant"})
        for bad, msg in [({"per_minute": 5}, "unknown fields"), ({"requests": 5, "per": "10ms"}, "between 1s and 24h"),
                         ({"requests": 0, "per": "1m"}, "requests"), ({"requests": 5, "per": "1m", "key": "header"}, "key")]:
            with self.assertRaisesRegex(ConfigurationError, msg):
                Endpoint("/a", rate_limit=bad).to_dict()
        back = Endpoint.from_json({"path": "/a", "rate_limit": {"requests": 5, "per": "1m", "key": "user"}})
        self.assertEqual(back.rate_limit, RateLimit(5, "1m", key="user"))
        with self.assertRaisesRegex(ConfigurationError, "unknown fields"):
            ServiceConfig(name="x", endpoints=[{"path": "/a", "roles": ["x"]}])


if __name__ == "__main__":
    unittest.main()
