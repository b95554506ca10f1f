"""The registry client and the instance life cycle (register → heartbeat →
deregister) as a context manager. See registry/httpapi/openapi.json."""

from __future__ import annotations

import logging
import random
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from ._http import HTTPError, PlugboardError, Unavailable, request_json
from ._record import Record, parse_time
from .service import Endpoint, ServiceConfig

__all__ = ["RegistryClient", "Registration", "RegistrationError", "Instance", "Heartbeat"]

log = logging.getLogger("plugboard.registry")


class RegistrationError(PlugboardError):
    """The registry refused the registration for good (bad credential,
    invalid fields, reserved name): retrying cannot help."""


@dataclass
class Instance(Record):
    """One registered instance as the registry returns it (the Instance
    schema of registry/httpapi/openapi.json; attribute names are its JSON
    field names). health is ``unknown``, ``healthy`` or ``unhealthy``."""

    id: str
    name: str
    host: str = ""
    port: int = 0
    display_name: str = ""
    version: str = ""
    base_path: str = ""
    is_active: bool = False
    health: str = "unknown"
    health_check_url: str = ""
    last_heartbeat: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    undeclared_paths: str = ""
    # The upstream timeout and retries the instance asked for; None: the
    # gateway's defaults.
    resilience: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "Instance":
        """Decodes the registry's JSON (unknown fields are ignored)."""
        return cls(
            id=str(v.get("id") or ""), name=str(v.get("name") or ""), host=str(v.get("host") or ""),
            port=int(v.get("port") or 0), display_name=str(v.get("display_name") or ""),
            version=str(v.get("version") or ""), base_path=str(v.get("base_path") or ""),
            is_active=bool(v.get("is_active")), health=str(v.get("health") or "unknown"),
            health_check_url=str(v.get("health_check_url") or ""),
            last_heartbeat=parse_time(v.get("last_heartbeat")), metadata=dict(v.get("metadata") or {}),
            tags=list(v.get("tags") or []), endpoints=[Endpoint.from_json(e) for e in v.get("endpoints") or []],
            undeclared_paths=str(v.get("undeclared_paths") or ""),
            resilience=dict(v["resilience"]) if isinstance(v.get("resilience"), Mapping) else None,
            created_at=parse_time(v.get("created_at")),
            updated_at=parse_time(v.get("updated_at")))


@dataclass
class Heartbeat(Record):
    """The registry's answer to a heartbeat."""

    service_id: str
    status: str = "ok"
    last_heartbeat: datetime | None = None

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "Heartbeat":
        return cls(service_id=str(v.get("service_id") or ""), status=str(v.get("status") or ""),
                   last_heartbeat=parse_time(v.get("last_heartbeat")))


class RegistryClient:
    """Typed calls of the registry's HTTP API (the Python twin of
    registry/client). Every call carries the credential: api_key (X-API-Key,
    a core API key with registry:write, or registry:read for list and get)
    or token (the registry token, or for reads the access token of a
    super_admin or tenant_admin, sent as Bearer). The registry answers
    reads without one 401."""

    def __init__(self, base_url: str, *, token: str | None = None, api_key: str | None = None,
                 timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers: dict[str, str] = {}
        if api_key:
            self._headers["X-API-Key"] = api_key
        elif token:
            self._headers["Authorization"] = "Bearer " + token

    @classmethod
    def for_service(cls, cfg: ServiceConfig, timeout: float = 5.0) -> "RegistryClient":
        return cls(cfg.registry_url, token=cfg.registry_token, api_key=cfg.api_key, timeout=timeout)

    def _call(self, method: str, path: str, body: Any = None, *,
              timeout: float | None = None) -> tuple[int, Mapping[str, str], Any]:
        return request_json(method, self.base_url + path, body=body, headers=self._headers or None,
                            timeout=self.timeout if timeout is None else timeout)

    def register(self, body: Mapping[str, Any]) -> Instance:
        """Registers (201) or re-registers (200) an instance; returns it as stored."""
        _, _, out = self._call("POST", "/api/registry/register", dict(body))
        return Instance.from_json(out)

    def heartbeat(self, service_id: str) -> Heartbeat:
        """Keeps an instance alive. HTTPError with status 404 means: register again."""
        _, _, out = self._call("POST", "/api/registry/heartbeat", {"service_id": service_id})
        return Heartbeat.from_json(out)

    def deregister(self, service_id: str, timeout: float | None = None) -> Instance:
        """Takes an instance out of service (404 when unknown or already inactive)."""
        _, _, out = self._call("POST", "/api/registry/deregister/" + urllib.parse.quote(service_id, safe=""),
                               timeout=timeout)
        return Instance.from_json(out)

    def list(self, *, name: str | None = None, tag: str | None = None, version: str | None = None,
             include_inactive: bool = False) -> list[Instance]:
        """The instances the filters select (active ones unless include_inactive)."""
        q = {k: v for k, v in (("name", name), ("tag", tag), ("version", version)) if v}
        if include_inactive:
            q["include_inactive"] = "true"
        path = "/api/registry/services" + ("?" + urllib.parse.urlencode(q) if q else "")
        _, _, out = self._call("GET", path)
        return [Instance.from_json(v) for v in out or []]

    def get(self, service_id: str) -> Instance:
        """One instance by id, active or not."""
        _, _, out = self._call("GET", "/api/registry/services/" + urllib.parse.quote(service_id, safe=""))
        return Instance.from_json(out)


def _permanent(e: HTTPError) -> bool:
    return not e.is_transient and e.status not in (404, 408)


class Registration:
    """The instance's life cycle in the registry::

        with Registration(cfg) as reg:      # registers
            server.serve_forever()          # a daemon thread heartbeats
        # deregistered, heartbeat thread stopped

    Entering registers the instance. A refusal that retrying cannot fix
    (401, 403, 422, …) raises RegistrationError; an unreachable or failing
    registry (connection errors, 5xx) does not: the background thread keeps
    trying, with backoff, and ``registered`` is set once it succeeds.

    The thread heartbeats every ``heartbeat_interval`` seconds (the
    config's, 30 s by default) ±``jitter`` (10 %). It registers again when a
    heartbeat answers 404 (the registry deregistered or expired the
    instance), and after an outage: once requests failed with connection
    errors or 5xx, it retries with exponential backoff (``retry_initial``
    doubling up to ``retry_max``) and, when the registry answers again,
    re-registers rather than trusting the old id (the registry may have
    lost or expired it meanwhile; re-registering the same name, host and
    port is idempotent and keeps the id).

    Leaving stops the thread and deregisters (a 404 there is fine).
    ``close()`` does the same and may be called more than once, from any
    thread."""

    def __init__(self, cfg: ServiceConfig, *, heartbeat_interval: float | None = None, jitter: float = 0.1,
                 retry_initial: float = 1.0, retry_max: float = 30.0, timeout: float = 5.0,
                 client: RegistryClient | None = None,
                 on_register: Callable[[Instance], None] | None = None):
        self.cfg = cfg
        self.client = client or RegistryClient.for_service(cfg, timeout=timeout)
        self.interval = float(heartbeat_interval if heartbeat_interval is not None else cfg.heartbeat_interval)
        if self.interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        self.jitter = max(0.0, min(float(jitter), 0.9))
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.on_register = on_register
        self.instance: Instance | None = None
        self.registered = threading.Event()
        self.registrations = 0  # successful register calls
        self.heartbeats = 0  # successful heartbeats
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._need_register = True
        self._failures = 0
        self._closed = False

    # Public ------------------------------------------------------------------

    @property
    def instance_id(self) -> str | None:
        inst = self.instance
        return inst.id if inst else None

    def start(self) -> "Registration":
        """Registers (see the class) and starts the heartbeat thread."""
        if self._thread is not None:
            return self
        body = self.cfg.registration_body()  # raises early on a bad config
        try:
            self._register(body)
        except Unavailable as e:
            log.warning("registry unreachable, will keep trying: %s", e)
            self._failures = 1
        except HTTPError as e:
            if _permanent(e):
                raise RegistrationError(str(e)) from e
            log.warning("registry failed, will keep trying: %s", e)
            self._failures = 1
        self._thread = threading.Thread(target=self._loop, name=f"plugboard-heartbeat-{self.cfg.name}", daemon=True)
        self._thread.start()
        return self

    def wait_registered(self, timeout: float | None = None) -> bool:
        return self.registered.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stops heartbeating and deregisters. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout + self.client.timeout)
        sid = self.instance_id
        if sid:
            try:
                self.client.deregister(sid, timeout=timeout)
                log.info("deregistered %s (%s)", self.cfg.name, sid)
            except HTTPError as e:
                if e.status != 404:
                    log.warning("deregister %s: %s", sid, e)
            except Unavailable as e:
                log.warning("deregister %s: registry unreachable, the instance will expire: %s", sid, e)
        self.registered.clear()

    def __enter__(self) -> "Registration":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # Internals -------------------------------------------------------------

    def _register(self, body: Mapping[str, Any] | None = None) -> None:
        inst = self.client.register(body or self.cfg.registration_body())
        with self._lock:
            self.instance = inst
            self._need_register = False
            self.registrations += 1
        self._failures = 0
        self.registered.set()
        log.info("registered %s as %s at %s:%s", self.cfg.name, inst.id, self.cfg.host, self.cfg.port)
        if self.on_register is not None:
            try:
                self.on_register(inst)
            except Exception:  # noqa: BLE001 - a callback must not kill the loop
                log.exception("on_register callback failed")

    def _next_delay(self) -> float:
        if self._failures:
            base = min(self.retry_max, self.retry_initial * (2 ** (self._failures - 1)))
        else:
            base = self.interval
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def _loop(self) -> None:
        while not self._stop.wait(self._next_delay()):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - keep the instance alive whatever happens
                log.exception("heartbeat loop")
                self._failures += 1

    def _tick(self) -> None:
        if self._need_register or not self.instance_id:
            try:
                self._register()
            except Unavailable as e:
                self._failed("register", e)
            except HTTPError as e:
                self._failed("register", e)
            return
        sid = self.instance_id
        try:
            self.client.heartbeat(sid)
            self.heartbeats += 1
            self._failures = 0
        except HTTPError as e:
            if e.status == 404:
                log.warning("the registry no longer knows %s (%s): registering again", sid, e.detail or e)
                self._need_register = True
                self.registered.clear()
                if not self._stop.is_set():
                    self._tick()
                return
            self._failed("heartbeat", e)
        except Unavailable as e:
            self._failed("heartbeat", e)

    def _failed(self, what: str, e: Exception) -> None:
        self._failures += 1
        if isinstance(e, Unavailable) or (isinstance(e, HTTPError) and e.is_transient):
            # After an outage the registry may have lost or expired us:
            # register again once it answers.
            self._need_register = True
        level = logging.WARNING if self._failures <= 3 or self._failures % 10 == 0 else logging.DEBUG
        log.log(level, "%s failed (attempt %d), retrying: %s", what, self._failures, e)
