"""Client of core's configuration center (core/httpapi/handle_config.go):
read entries and follow changes over Server-Sent Events.

Entries are addressed by scope (``global``, or ``tenant`` plus a tenant
id — the caller's own when none is given), service and key; values are
any JSON. The watch stream sends a ``snapshot`` event, then a ``change``
event per committed write (``{"scope", "tenant_id", "service", "key",
"version", "deleted", "value"}``), keep-alive comments every 15 s, and a
``reconnect`` event when the server wants the client to come back."""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from ._http import HTTPError, Unavailable, request_json
from ._record import Record, parse_time

__all__ = ["ConfigClient", "ConfigWatch", "PasswordLogin", "DEFAULT_CORE_URL", "ConfigEntry", "ConfigChange",
           "Author"]

log = logging.getLogger("plugboard.config")

DEFAULT_CORE_URL = "http://127.0.0.1:8082"
_MISSING = object()

Credential = str | Callable[[], Mapping[str, str] | str] | None


@dataclass(frozen=True)
class Author(Record):
    """Who wrote a configuration version: a user's id and name."""

    id: str = ""
    name: str = ""

    @classmethod
    def from_json(cls, v: Any) -> "Author":
        v = v if isinstance(v, Mapping) else {}
        return cls(id=str(v.get("id") or ""), name=str(v.get("name") or ""))


@dataclass
class ConfigEntry(Record):
    """One configuration entry in its current version (core's entry JSON;
    attribute names are its field names). scope is ``global`` or
    ``tenant``; tenant_id is empty for global entries; value is any
    JSON value, decoded."""

    service: str
    key: str
    value: Any = None
    version: int = 0
    scope: str = "global"
    tenant_id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    updated_by: Author = Author()

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "ConfigEntry":
        """Decodes core's JSON (unknown fields are ignored)."""
        return cls(service=str(v.get("service") or ""), key=str(v.get("key") or ""), value=v.get("value"),
                   version=int(v.get("version") or 0), scope=str(v.get("scope") or "global"),
                   tenant_id=str(v.get("tenant_id") or ""), created_at=parse_time(v.get("created_at")),
                   updated_at=parse_time(v.get("updated_at")), updated_by=Author.from_json(v.get("updated_by")))


@dataclass
class ConfigChange(Record):
    """A committed write the watch reports: the entry's new version and
    value, or deleted=True (value None) when it was deleted."""

    service: str
    key: str
    version: int
    deleted: bool = False
    value: Any = None
    scope: str = "global"
    tenant_id: str = ""

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "ConfigChange":
        """Decodes a ``change`` event (unknown fields are ignored)."""
        return cls(service=str(v.get("service") or ""), key=str(v.get("key") or ""),
                   version=int(v.get("version") or 0), deleted=bool(v.get("deleted")), value=v.get("value"),
                   scope=str(v.get("scope") or "global"), tenant_id=str(v.get("tenant_id") or ""))


class PasswordLogin:
    """A credential that logs in to core with a username and password and
    keeps a fresh access token (refreshing it before it expires), for
    services that read configuration with a service account. Pass it as
    ConfigClient's credential."""

    def __init__(self, core_url: str, username: str, password: str, tenant: str = "", *, timeout: float = 10.0,
                 margin: float = 60.0):
        self.core_url = core_url.rstrip("/")
        self.username, self.password, self.tenant = username, password, tenant
        self.timeout, self.margin = timeout, margin
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires = 0.0

    def _take(self, tokens: Mapping[str, Any]) -> None:
        self._access = tokens["access_token"]
        self._refresh = tokens.get("refresh_token")
        ttl = float(tokens.get("expires_in") or 300)
        self._expires = time.monotonic() + max(ttl - min(self.margin, ttl / 2), 1.0)

    def token(self, force: bool = False) -> str:
        with self._lock:
            if not force and self._access and time.monotonic() < self._expires:
                return self._access
            if self._refresh:
                try:
                    _, _, out = request_json("POST", self.core_url + "/api/auth/refresh",
                                             body={"refresh_token": self._refresh}, timeout=self.timeout)
                    self._take(out)
                    return self._access  # type: ignore[return-value]
                except HTTPError as e:
                    log.info("token refresh refused (%s); logging in again", e.status)
            body = {"username": self.username, "password": self.password}
            if self.tenant:
                body["tenant"] = self.tenant
            _, _, out = request_json("POST", self.core_url + "/api/auth/login", body=body, timeout=self.timeout)
            self._take(out)
            return self._access  # type: ignore[return-value]

    def __call__(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token()}


def _auth_headers(cred: Credential) -> dict[str, str]:
    if cred is None or cred == "":
        return {}
    if callable(cred):
        v = cred()
        return dict(v) if isinstance(v, Mapping) else _auth_headers(v)
    if cred.startswith("pb_"):  # core API keys look like pb_live_<prefix>_<secret>
        return {"X-API-Key": cred}
    return {"Authorization": "Bearer " + cred}


class ConfigClient:
    """Reads core's configuration center.

    credential is an access token (sent as Authorization: Bearer), a core
    API key (``pb_live_…``, sent as X-API-Key), or a callable returning
    either or a dict of headers (such as PasswordLogin), called for every
    request so that tokens can be refreshed.

    scope is ``"global"`` (the default here: a plugin's own settings) or
    ``"tenant"`` with tenant_id (the caller's tenant when omitted)."""

    def __init__(self, core_url: str = DEFAULT_CORE_URL, credential: Credential = None, *, timeout: float = 10.0):
        self.core_url = core_url.rstrip("/")
        self.credential = credential
        self.timeout = timeout

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ConfigClient | None":
        """From PLUGBOARD_CORE_URL and PLUGBOARD_CORE_TOKEN, PLUGBOARD_API_KEY,
        or PLUGBOARD_CORE_USERNAME + PLUGBOARD_CORE_PASSWORD (+ _TENANT);
        None when no credential is set."""
        env = os.environ if environ is None else environ
        url = env.get("PLUGBOARD_CORE_URL") or DEFAULT_CORE_URL
        if env.get("PLUGBOARD_CORE_TOKEN"):
            return cls(url, env["PLUGBOARD_CORE_TOKEN"])
        if env.get("PLUGBOARD_API_KEY"):
            return cls(url, env["PLUGBOARD_API_KEY"])
        if env.get("PLUGBOARD_CORE_USERNAME") and env.get("PLUGBOARD_CORE_PASSWORD"):
            return cls(url, PasswordLogin(url, env["PLUGBOARD_CORE_USERNAME"], env["PLUGBOARD_CORE_PASSWORD"],
                                          env.get("PLUGBOARD_CORE_TENANT", "")))
        return None

    def _headers(self) -> dict[str, str]:
        return _auth_headers(self.credential)

    @staticmethod
    def _query(scope: str, tenant_id: str | None, **more: str | None) -> str:
        if scope not in ("global", "tenant"):
            raise ValueError("scope must be 'global' or 'tenant'")
        q = {"scope": scope}
        if tenant_id:
            if scope == "global":
                raise ValueError("tenant_id must be empty with scope='global'")
            q["tenant_id"] = tenant_id
        q.update({k: v for k, v in more.items() if v})
        return urllib.parse.urlencode(q)

    @staticmethod
    def entry_path(service: str, key: str) -> str:
        """/api/config/{service}/{key}, escaped; a key whose last segment is
        history or diff has that slash encoded, as core requires."""
        if not service or not key:
            raise ValueError("service and key are required")
        k = urllib.parse.quote(key, safe="/")
        head, sep, last = k.rpartition("/")
        if sep and last in ("history", "diff", "rollback"):
            k = head + "%2F" + last
        return "/api/config/" + urllib.parse.quote(service, safe="") + "/" + k

    def get_entry(self, service: str, key: str, *, scope: str = "global", tenant_id: str | None = None) -> ConfigEntry:
        """The entry; HTTPError 404 when there is none."""
        url = self.core_url + self.entry_path(service, key) + "?" + self._query(scope, tenant_id)
        _, _, out = request_json("GET", url, headers=self._headers(), timeout=self.timeout)
        return ConfigEntry.from_json(out)

    def get(self, service: str, key: str, *, scope: str = "global", tenant_id: str | None = None,
            default: Any = _MISSING) -> Any:
        """The entry's value; default (when given) if it does not exist."""
        try:
            return self.get_entry(service, key, scope=scope, tenant_id=tenant_id).value
        except HTTPError as e:
            if e.status == 404 and default is not _MISSING:
                return default
            raise

    def list(self, service: str | None = None, *, prefix: str | None = None, scope: str = "global",
             tenant_id: str | None = None) -> list[ConfigEntry]:
        """The current entries of a scope, optionally of one service / key prefix."""
        url = self.core_url + "/api/config?" + self._query(scope, tenant_id, service=service, prefix=prefix)
        _, _, out = request_json("GET", url, headers=self._headers(), timeout=self.timeout)
        return [ConfigEntry.from_json(v) for v in out or []]

    def watch(self, service: str | None, callback: Callable[[ConfigChange], None], *, scope: str = "global",
              tenant_id: str | None = None, on_snapshot: Callable[[list[ConfigEntry]], None] | None = None,
              retry_max: float = 30.0, read_timeout: float = 45.0) -> "ConfigWatch":
        """Follows changes in a daemon thread; see ConfigWatch. Returns it, started."""
        w = ConfigWatch(self, service, callback, scope=scope, tenant_id=tenant_id, on_snapshot=on_snapshot,
                        retry_max=retry_max, read_timeout=read_timeout)
        w.start()
        return w


class ConfigWatch:
    """A thread reading GET /api/config/watch and calling callback(change)
    with a ConfigChange for each ``change`` event.

    It reconnects when the stream ends (a ``reconnect`` event, a dropped
    connection, or nothing — not even a keep-alive — for read_timeout
    seconds), with backoff on failures. Notifications are at most once
    per connection, so after a reconnect it compares the new snapshot with
    the versions it knows and calls back for entries that changed or
    disappeared in between: no change is missed and none is repeated.
    The first snapshot goes to on_snapshot(entries), if given.

    ``connected`` is set while a stream is open; ``stop()`` ends it."""

    def __init__(self, client: ConfigClient, service: str | None, callback: Callable[[ConfigChange], None], *,
                 scope: str = "global", tenant_id: str | None = None,
                 on_snapshot: Callable[[list[ConfigEntry]], None] | None = None,
                 retry_max: float = 30.0, read_timeout: float = 45.0):
        self.client = client
        self.service = service or None
        self.callback = callback
        self.on_snapshot = on_snapshot
        self.query = client._query(scope, tenant_id, service=self.service)
        self.retry_max = retry_max
        self.read_timeout = read_timeout
        self.connected = threading.Event()
        self.versions: dict[tuple[str, str], int] = {}  # present entries' latest versions
        self._deleted: dict[tuple[str, str], int] = {}  # deleted entries' last versions
        self.snapshots = 0
        self._stop = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="plugboard-config-watch", daemon=True)
        self._retry = 1.0

    def start(self) -> "ConfigWatch":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> "ConfigWatch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # Internals -------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._stream()
                failures = 0
                delay = self._retry
            except HTTPError as e:
                failures += 1
                delay = min(self.retry_max, self._retry * 2 ** min(failures, 10))
                log.warning("config watch refused (%s), retrying in %.1fs", e, delay)
            except (Unavailable, OSError, http.client.HTTPException, ValueError) as e:
                failures += 1
                delay = min(self.retry_max, self._retry * 2 ** min(failures - 1, 10))
                if not self._stop.is_set():
                    log.info("config watch interrupted (%s), reconnecting in %.1fs", e, delay)
            finally:
                self.connected.clear()
                with self._lock:
                    conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()
            self._stop.wait(delay * random.uniform(0.9, 1.1))

    def _stream(self) -> None:
        u = urllib.parse.urlsplit(self.client.core_url)
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = cls(u.hostname or "127.0.0.1", u.port, timeout=self.read_timeout)
        with self._lock:
            if self._stop.is_set():
                return
            self._conn = conn
        path = (u.path.rstrip("/") or "") + "/api/config/watch?" + self.query
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **self.client._headers()}
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            raise Unavailable(f"GET {path}: {e}") from e
        if resp.status != 200:
            raw = resp.read(1 << 20)
            try:
                prob = json.loads(raw)
            except ValueError:
                prob = None
            raise HTTPError(resp.status, prob if isinstance(prob, dict) else None, method="GET", url=path)
        self.connected.set()
        event, data = "", []
        while not self._stop.is_set():
            line = resp.readline(1 << 24)
            if not line:
                return  # the server closed the stream: reconnect
            line = line.rstrip(b"\r\n").decode("utf-8")
            if line == "":
                if event or data:
                    if self._dispatch(event or "message", "\n".join(data)):
                        return
                event, data = "", []
            elif line.startswith(":"):
                continue  # keep-alive comment
            else:
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
                elif name == "retry" and value.isdigit():
                    self._retry = max(int(value) / 1000.0, 0.1)

    def _known(self, k: tuple[str, str]) -> int:
        return max(self.versions.get(k, 0), self._deleted.get(k, 0))

    def _dispatch(self, event: str, data: str) -> bool:
        """Handles one event; True asks to reconnect."""
        if event == "reconnect":
            return True
        if event == "snapshot":
            snap = json.loads(data)
            entries = [ConfigEntry.from_json(e) for e in snap.get("entries") or []]
            first = self.snapshots == 0
            self.snapshots += 1
            if first:
                for e in entries:
                    self.versions[(e.service, e.key)] = e.version
                if self.on_snapshot is not None:
                    self._call(self.on_snapshot, entries)
                return False
            # A reconnect: report what changed while we were away.
            present = set()
            for e in entries:
                k, v = (e.service, e.key), e.version
                present.add(k)
                if v > self._known(k):
                    self.versions[k] = v
                    self._deleted.pop(k, None)
                    self._call(self.callback, ConfigChange(service=k[0], key=k[1], version=v, value=e.value,
                                                           scope=e.scope, tenant_id=e.tenant_id))
            for k in [k for k in self.versions if k not in present]:
                v = self.versions.pop(k) + 1  # at least one write (the delete) happened
                self._deleted[k] = v
                self._call(self.callback, ConfigChange(service=k[0], key=k[1], version=v, deleted=True,
                                                       scope=str(snap.get("scope") or "global"),
                                                       tenant_id=str(snap.get("tenant_id") or "")))
            return False
        if event == "change":
            ch = ConfigChange.from_json(json.loads(data))
            k, v = (ch.service, ch.key), ch.version
            if v <= self._known(k):
                return False  # already reported
            if ch.deleted:
                self.versions.pop(k, None)
                self._deleted[k] = v
            else:
                self.versions[k] = v
                self._deleted.pop(k, None)
            self._call(self.callback, ch)
        return False

    def _call(self, fn: Callable[..., Any], arg: Any) -> None:
        try:
            fn(arg)
        except Exception:  # noqa: BLE001 - a bad callback must not end the watch
            log.exception("config watch callback failed")
