"""What a plugin says about itself: ServiceConfig and Endpoint, mirroring
the registry's register request (see registry/httpapi/openapi.json)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ._record import Record

__all__ = ["Endpoint", "RateLimit", "ServiceConfig", "ConfigurationError", "DEFAULT_REGISTRY_URL", "parse_duration"]

DEFAULT_REGISTRY_URL = "http://127.0.0.1:8081"
DEFAULT_HEARTBEAT_INTERVAL = 30.0


class ConfigurationError(ValueError):
    """A setting (usually a PLUGBOARD_* variable) has a bad value; the
    message names it."""


_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(var: str, raw: str) -> float:
    """Seconds in raw: a Go duration as the other Plugboard processes take
    them ("10s", "1m30s", "500ms") or a plain number of seconds ("2.5").
    Raises ConfigurationError naming var unless the result is positive."""
    text = raw.strip()
    try:
        secs = float(text)
    except ValueError:
        pos, secs = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            secs += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            secs = -1.0
    if not secs > 0 or secs != secs or secs == float("inf"):
        raise ConfigurationError(f"{var}: {raw!r} is not a positive duration (such as 30s, 500ms or 2.5)")
    return secs


RATE_LIMIT_KEYS = ("user", "tenant", "api_key", "client_ip", "service")


@dataclass
class RateLimit(Record):
    """An endpoint's rate_limit, which every gateway enforces: at most
    requests per ``per`` (a duration from "1s" to "24h") for each key
    (user by default; tenant, api_key, client_ip or service), of which
    burst at once (0: requests). The registry checks it too and names the
    bad field."""

    requests: int
    per: str
    burst: int = 0
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        where = f"rate_limit {self.requests!r} per {self.per!r}"
        if not isinstance(self.requests, int) or isinstance(self.requests, bool) or not 1 <= self.requests <= 1_000_000_000:
            raise ConfigurationError(f"{where}: requests must be a whole number from 1 to 1000000000")
        secs = parse_duration("rate_limit.per", str(self.per))
        if not 1 <= secs <= 86400:
            raise ConfigurationError(f"{where}: per must be between 1s and 24h")
        if not isinstance(self.burst, int) or isinstance(self.burst, bool) or not 0 <= self.burst <= 1_000_000_000:
            raise ConfigurationError(f"{where}: burst must be a whole number from 0 to 1000000000")
        if self.key and self.key not in RATE_LIMIT_KEYS:
            raise ConfigurationError(f"{where}: key {self.key!r} is not one of {', '.join(RATE_LIMIT_KEYS)}")
        d: dict[str, Any] = {"requests": self.requests, "per": self.per}
        if self.burst:
            d["burst"] = self.burst
        if self.key:
            d["key"] = self.key
        return d

    @classmethod
    def from_value(cls, v: "RateLimit | Mapping[str, Any]") -> "RateLimit":
        if isinstance(v, RateLimit):
            return v
        if isinstance(v, Mapping):
            unknown = set(v) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ConfigurationError(f"rate_limit: unknown fields {sorted(unknown)} (want requests, per, burst, key)")
            if "requests" not in v or "per" not in v:
                raise ConfigurationError("rate_limit: requests and per are required")
            return cls(**dict(v))
        raise ConfigurationError(f"a rate_limit must be a RateLimit or a dict, not {type(v).__name__}")


@dataclass
class Endpoint(Record):
    """One operation of the service and the policy the gateway enforces.

    path is relative to the service's base_path and may hold templates
    (``/notes/{id}``). A public endpoint needs no credentials; otherwise
    the caller needs one of required_roles (any authenticated caller when
    empty)."""

    path: str
    method: str = "GET"
    description: str = ""
    required_roles: list[str] = field(default_factory=list)
    is_public: bool = False
    rate_limit: "RateLimit | Mapping[str, Any] | None" = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "method": (self.method or "GET").upper()}
        if self.description:
            d["description"] = self.description
        if self.required_roles:
            d["required_roles"] = list(self.required_roles)
        if self.is_public:
            d["is_public"] = True
        if self.rate_limit is not None:
            d["rate_limit"] = RateLimit.from_value(self.rate_limit).to_dict()
        return d

    @classmethod
    def from_value(cls, v: "Endpoint | Mapping[str, Any]") -> "Endpoint":
        if isinstance(v, Endpoint):
            return v
        if isinstance(v, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = set(v) - known
            if unknown:
                raise ConfigurationError(f"endpoint {v.get('path')!r}: unknown fields {sorted(unknown)}")
            return cls(**dict(v))
        raise ConfigurationError(f"an endpoint must be an Endpoint or a dict, not {type(v).__name__}")

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "Endpoint":
        """An endpoint as the registry returns it (unknown fields ignored)."""
        return cls(path=str(v.get("path") or ""), method=str(v.get("method") or "GET"),
                   description=str(v.get("description") or ""),
                   required_roles=list(v.get("required_roles") or []), is_public=bool(v.get("is_public")),
                   rate_limit=RateLimit(**{k: v["rate_limit"][k] for k in ("requests", "per", "burst", "key") if k in v["rate_limit"]})
                   if isinstance(v.get("rate_limit"), Mapping) else None)


@dataclass
class ServiceConfig:
    """The seed's SERVICE_CONFIG plus where the registry is.

    host and port are where the gateway reaches this instance (the
    registry identifies an instance by name, host and port). port 0 is
    allowed before the server is bound: run() fills it in from the
    listening socket. bind_host is the address to listen on when it
    differs from host (such as 0.0.0.0 in a container).

    The registry credential is api_key (a core API key with the
    registry:write scope, sent as X-API-Key) or registry_token (the
    registry's bearer token); api_key wins when both are set. It is sent on
    reads too: the registry lists instances only to a credential."""

    name: str
    display_name: str = ""
    version: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    base_path: str = ""
    endpoints: list[Endpoint | dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    health_check_url: str = ""
    # What the gateway does with requests to paths and methods not in
    # endpoints: "authenticated" (the registry's default: any valid
    # identity) or "deny" (refused). "" leaves it to the registry.
    undeclared_paths: str = ""
    # The gateway's upstream timeout and retries for this service, such as
    # {"timeout": "2s", "retries": 1, "retry_on": ["503"]}, within the
    # platform's caps (the registry refuses more, 422). None: the gateway's
    # defaults. Sent as given: the registry validates it.
    resilience: dict[str, Any] | None = None
    registry_url: str = DEFAULT_REGISTRY_URL
    registry_token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    bind_host: str | None = None

    def __post_init__(self) -> None:
        self.endpoints = [Endpoint.from_value(e) for e in (self.endpoints or [])]
        self.metadata = dict(self.metadata or {})
        self.tags = list(self.tags or [])

    # Registry request ---------------------------------------------------

    def registration_body(self) -> dict[str, Any]:
        """The JSON body of POST /api/registry/register."""
        if not self.name:
            raise ConfigurationError("PLUGBOARD_SERVICE_NAME: the service needs a name")
        if not (1 <= int(self.port) <= 65535):
            raise ConfigurationError(f"PLUGBOARD_SERVICE_PORT: {self.port!r} is not a port (1-65535); bind the server first")
        body: dict[str, Any] = {"name": self.name, "host": self.host, "port": int(self.port)}
        if self.undeclared_paths not in ("", "authenticated", "deny"):
            raise ConfigurationError(
                f"PLUGBOARD_SERVICE_UNDECLARED_PATHS: {self.undeclared_paths!r} is not authenticated or deny")
        for k in ("display_name", "version", "base_path", "health_check_url", "undeclared_paths"):
            v = getattr(self, k)
            if v:
                body[k] = v
        if self.endpoints:
            body["endpoints"] = [Endpoint.from_value(e).to_dict() for e in self.endpoints]
        if self.metadata:
            body["metadata"] = self.metadata
        if self.tags:
            body["tags"] = list(self.tags)
        if self.resilience is not None:
            if not isinstance(self.resilience, Mapping):
                raise ConfigurationError("PLUGBOARD_SERVICE_RESILIENCE: must be a JSON object")
            body["resilience"] = dict(self.resilience)
        return body

    def auth_headers(self) -> dict[str, str]:
        """The registry credential as request headers."""
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.registry_token:
            return {"Authorization": "Bearer " + self.registry_token}
        return {}

    @property
    def listen_host(self) -> str:
        return self.bind_host or self.host

    # Environment ----------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **defaults: Any) -> "ServiceConfig":
        """Builds a config from the code's defaults overridden by the
        environment:

        ==================================  ==============================
        PLUGBOARD_SERVICE_NAME              name
        PLUGBOARD_SERVICE_DISPLAY_NAME      display_name
        PLUGBOARD_SERVICE_VERSION           version
        PLUGBOARD_SERVICE_HOST              host (what the gateway dials)
        PLUGBOARD_SERVICE_BIND              bind_host (what to listen on)
        PLUGBOARD_SERVICE_PORT              port (0: any free port)
        PLUGBOARD_SERVICE_BASE_PATH         base_path
        PLUGBOARD_SERVICE_HEALTH_CHECK_URL  health_check_url
        PLUGBOARD_SERVICE_TAGS              tags, comma-separated
        PLUGBOARD_SERVICE_METADATA          metadata, a JSON object
        PLUGBOARD_SERVICE_UNDECLARED_PATHS  undeclared_paths (authenticated, deny)
        PLUGBOARD_SERVICE_RESILIENCE        resilience, a JSON object
        PLUGBOARD_REGISTRY_URL              registry_url (http://127.0.0.1:8081)
        PLUGBOARD_API_KEY                   api_key (X-API-Key)
        PLUGBOARD_REGISTRY_TOKEN            registry_token (Bearer)
        PLUGBOARD_HEARTBEAT_INTERVAL        heartbeat_interval (30s; 10s, 2.5, …)
        ==================================  ==============================

        Endpoints come from the code (``endpoints=[...]``). A bad value
        raises ConfigurationError naming the variable."""
        env = os.environ if environ is None else environ

        def get(var: str) -> str | None:
            v = env.get("PLUGBOARD_" + var)
            return v if v not in (None, "") else None

        vals: dict[str, Any] = dict(defaults)
        for var, attr in (("SERVICE_NAME", "name"), ("SERVICE_DISPLAY_NAME", "display_name"),
                          ("SERVICE_VERSION", "version"), ("SERVICE_HOST", "host"), ("SERVICE_BIND", "bind_host"),
                          ("SERVICE_BASE_PATH", "base_path"), ("SERVICE_HEALTH_CHECK_URL", "health_check_url"),
                          ("SERVICE_UNDECLARED_PATHS", "undeclared_paths"),
                          ("REGISTRY_URL", "registry_url"), ("API_KEY", "api_key"),
                          ("REGISTRY_TOKEN", "registry_token")):
            v = get(var)
            if v is not None:
                vals[attr] = v
        if (v := get("SERVICE_PORT")) is not None:
            try:
                port = int(v, 10)
            except ValueError:
                port = -1
            if not 0 <= port <= 65535:
                raise ConfigurationError(f"PLUGBOARD_SERVICE_PORT: {v!r} is not a port (0-65535)")
            vals["port"] = port
        if (v := get("SERVICE_TAGS")) is not None:
            vals["tags"] = [t.strip() for t in v.split(",") if t.strip()]
        if (v := get("SERVICE_METADATA")) is not None:
            try:
                meta = json.loads(v)
            except ValueError as e:
                raise ConfigurationError(f"PLUGBOARD_SERVICE_METADATA: not JSON: {e}") from None
            if not isinstance(meta, dict):
                raise ConfigurationError("PLUGBOARD_SERVICE_METADATA: must be a JSON object")
            vals["metadata"] = {**dict(vals.get("metadata") or {}), **meta}
        if (v := get("SERVICE_RESILIENCE")) is not None:
            try:
                res = json.loads(v)
            except ValueError as e:
                raise ConfigurationError(f"PLUGBOARD_SERVICE_RESILIENCE: not JSON: {e}") from None
            if not isinstance(res, dict):
                raise ConfigurationError("PLUGBOARD_SERVICE_RESILIENCE: must be a JSON object")
            vals["resilience"] = res
        if (v := get("HEARTBEAT_INTERVAL")) is not None:
            vals["heartbeat_interval"] = parse_duration("PLUGBOARD_HEARTBEAT_INTERVAL", v)
        if not vals.get("name"):
            raise ConfigurationError("PLUGBOARD_SERVICE_NAME: the service needs a name (set it, or pass name=...)")
        return cls(**vals)
