"""Who is calling: the identity headers the gateway's jwt_auth sets and
their signature (caddymodules/jwtauth/sign.go). The responses a plugin
writes (problem+json, JSON) are in plugboard.responses.

The gateway strips every client-sent X-Plugboard-* header, authenticates
the caller and sets

    X-Plugboard-User-Id, -Tenant-Id, -Roles, -Scopes (comma-separated),
    -Timestamp (unix seconds) and -Signature

where the signature is the hex HMAC-SHA256, keyed by the service's own
key (PLUGBOARD_SERVICE_KEY), of

    service "\\n" method "\\n" path "\\n" user "\\n" tenant "\\n" roles "\\n" scopes "\\n" timestamp

service is the service's registered name (PLUGBOARD_SERVICE_NAME), so a
request signed for another service is refused. The gateway derives each
service's key from its master secret: the 64 hex characters of
HMAC-SHA256(master, "plugboard-service-key:" + service), used as given
(``plugboard-gateway service-key <name>`` prints it). During a key rotation
PLUGBOARD_SERVICE_KEY_PREVIOUS is accepted too. A plugin given only the
master (PLUGBOARD_GATEWAY_SIGNING_SECRET, the legacy setup) derives its own
key from it, with a warning: holding the master, it could sign for every
service.

path is the request target the service itself receives: escaped path
and query (``/v1/items/1?a=2``, base path included), as ``handler.path``
and Go's ``r.URL.RequestURI()`` hold it. A plugin that checks it refuses
requests that did not come through the gateway."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ._http import PlugboardError
from .responses import problem, send_json, send_problem  # noqa: F401 - their home before 0.2

__all__ = [
    "HEADER_USER_ID", "HEADER_TENANT_ID", "HEADER_ROLES", "HEADER_SCOPES", "HEADER_TIMESTAMP",
    "HEADER_SIGNATURE", "IDENTITY_HEADERS", "SUPER_ADMIN", "Identity", "Unauthorized", "Forbidden",
    "sign", "signed_headers", "verify_request", "require_role", "identity_from_handler",
    "signing_secret", "service_key", "service_keys", "ServiceKeys", "SERVICE_KEY_LABEL",
]

log = logging.getLogger("plugboard.identity")

HEADER_USER_ID = "X-Plugboard-User-Id"
HEADER_TENANT_ID = "X-Plugboard-Tenant-Id"
HEADER_ROLES = "X-Plugboard-Roles"
HEADER_SCOPES = "X-Plugboard-Scopes"
HEADER_TIMESTAMP = "X-Plugboard-Timestamp"
HEADER_SIGNATURE = "X-Plugboard-Signature"
IDENTITY_HEADERS = (HEADER_USER_ID, HEADER_TENANT_ID, HEADER_ROLES, HEADER_SCOPES, HEADER_TIMESTAMP,
                    HEADER_SIGNATURE)
SUPER_ADMIN = "super_admin"
DEFAULT_MAX_SKEW = 300  # seconds
SERVICE_KEY_LABEL = "plugboard-service-key:"

_TIMESTAMP = re.compile(r"[+-]?[0-9]{1,19}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Identity:
    """The verified caller, immutable. user_id is empty for a tenant-wide
    API key."""

    user_id: str
    tenant_id: str
    roles: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)

    @property
    def is_super_admin(self) -> bool:
        return SUPER_ADMIN in self.roles

    def has_role(self, *roles: str) -> bool:
        """Whether the caller has one of roles."""
        return any(r in self.roles for r in roles)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class Unauthorized(PlugboardError):
    """No (valid) gateway identity: answer 401."""

    status = 401

    def __init__(self, detail: str = "This request did not come through the gateway with a valid signed identity."):
        self.detail = detail
        super().__init__(detail)


class Forbidden(PlugboardError):
    """The identity lacks a required role: answer 403."""

    status = 403

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


# Signing --------------------------------------------------------------------


def _b(v: str | bytes, what: str = "value") -> bytes:
    if isinstance(v, bytes):
        return v
    try:
        # HTTP header values reach Python as ISO-8859-1 text (http.server,
        # WSGI): encoding them back gives the bytes the gateway signed.
        return v.encode("latin-1")
    except UnicodeEncodeError:
        return v.encode("utf-8")


def _key(secret: str | bytes) -> bytes:
    if not secret:
        raise ValueError("the service key is empty: set PLUGBOARD_SERVICE_KEY")
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def service_key(master: str | bytes, service: str) -> str:
    """The key of service as the gateway derives it from its master signing
    secret: hex HMAC-SHA256(master, "plugboard-service-key:" + service)
    (``plugboard-gateway service-key <name>`` prints the same)."""
    return hmac.new(_key(master), (SERVICE_KEY_LABEL + service).encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ServiceKeys:
    """What verifies the gateway's signature for one service: its name and
    its keys, the current one first and, during a rotation, the previous
    one. Empty keys are dropped; at least one must remain."""

    service: str
    keys: tuple[bytes, ...]

    def __init__(self, service: str, *keys: str | bytes):
        kept = tuple(_key(k) for k in keys if k)
        if not kept:
            raise ValueError("no service key: set PLUGBOARD_SERVICE_KEY (plugboard-gateway service-key <name>)")
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "keys", kept)


def service_keys(environ: Mapping[str, str] | None = None, service: str | None = None) -> ServiceKeys:
    """The service's keys from the environment: PLUGBOARD_SERVICE_KEY and,
    during a rotation, PLUGBOARD_SERVICE_KEY_PREVIOUS, for service (default
    PLUGBOARD_SERVICE_NAME). Without either, the legacy
    PLUGBOARD_GATEWAY_SIGNING_SECRET (the gateway's master) still works: the
    service's key is derived from it, with a warning. ValueError when
    nothing is set."""
    env = os.environ if environ is None else environ
    name = service if service is not None else env.get("PLUGBOARD_SERVICE_NAME", "")
    if not name:
        raise ValueError("the service has no name (PLUGBOARD_SERVICE_NAME): its key signs for one service")
    current, previous = env.get("PLUGBOARD_SERVICE_KEY", ""), env.get("PLUGBOARD_SERVICE_KEY_PREVIOUS", "")
    if current or previous:
        return ServiceKeys(name, current, previous)
    master = env.get("PLUGBOARD_GATEWAY_SIGNING_SECRET", "")
    if not master:
        raise ValueError("PLUGBOARD_SERVICE_KEY is not set: the plugin cannot verify the gateway's identity headers "
                         f"(PLUGBOARD_SERVICE_KEY=$(plugboard-gateway service-key {name}); make demo sets it)")
    log.warning("PLUGBOARD_GATEWAY_SIGNING_SECRET is the gateway's master secret, with which this plugin could "
                "sign for every service (legacy, insecure): give it only its own key, "
                "PLUGBOARD_SERVICE_KEY=$(plugboard-gateway service-key %s)", name)
    return ServiceKeys(name, service_key(master, name))


def _signing_key(key: str | bytes | ServiceKeys, service: str | None) -> tuple[bytes, str]:
    if isinstance(key, ServiceKeys):
        return key.keys[0], key.service if service is None else service
    if service is None:
        raise TypeError("service is required: the signature covers the service's name")
    return _key(key), service


def sign(key: str | bytes | ServiceKeys, method: str, path: str, user: str, tenant: str, roles: str, scopes: str,
         timestamp: str, *, service: str | None = None) -> str:
    """The gateway's signature (jwtauth.Sign): hex HMAC-SHA256, keyed by
    the service's key, of service and the seven fields joined by newlines.
    roles and scopes are the comma-separated header values, timestamp the
    decimal unix seconds; service defaults to that of a ServiceKeys key."""
    k, svc = _signing_key(key, service)
    msg = b"\n".join(f if isinstance(f, bytes) else f.encode("utf-8")
                     for f in (svc, method, path, user, tenant, roles, scopes, timestamp))
    return hmac.new(k, msg, hashlib.sha256).hexdigest()


def signed_headers(key: str | bytes | ServiceKeys, method: str, path: str, *, service: str | None = None,
                   user_id: str = "", tenant_id: str = "", roles: Iterable[str] = (), scopes: Iterable[str] = (),
                   timestamp: int | None = None) -> dict[str, str]:
    """The identity headers the gateway would set for a request to service
    — for tests and tools.

    Values are signed as UTF-8 and returned ready for http.client/urllib,
    which send header text as ISO-8859-1: non-ASCII values go out as their
    UTF-8 bytes, as the gateway sends them."""
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    r, s = ",".join(roles), ",".join(scopes)
    sig = sign(key, method, path, user_id, tenant_id, r, s, ts, service=service)

    def wire(v: str) -> str:
        return v.encode("utf-8").decode("latin-1")

    return {
        HEADER_USER_ID: wire(user_id), HEADER_TENANT_ID: wire(tenant_id), HEADER_ROLES: wire(r),
        HEADER_SCOPES: wire(s), HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: sig,
    }


def signing_secret(environ: Mapping[str, str] | None = None) -> str:
    """PLUGBOARD_GATEWAY_SIGNING_SECRET, the gateway's master secret, or
    ValueError when it is unset. Legacy: a plugin verifies with its own
    key (service_keys)."""
    v = (os.environ if environ is None else environ).get("PLUGBOARD_GATEWAY_SIGNING_SECRET", "")
    if not v:
        raise ValueError("PLUGBOARD_GATEWAY_SIGNING_SECRET is not set (a plugin needs only its own key: "
                         "PLUGBOARD_SERVICE_KEY)")
    return v


@functools.lru_cache(maxsize=8)
def _env_keys(name: str, current: str, previous: str, master: str) -> ServiceKeys:
    env = {"PLUGBOARD_SERVICE_NAME": name, "PLUGBOARD_SERVICE_KEY": current,
           "PLUGBOARD_SERVICE_KEY_PREVIOUS": previous, "PLUGBOARD_GATEWAY_SIGNING_SECRET": master}
    return service_keys(env)


def _keys(keys: ServiceKeys | None) -> ServiceKeys:
    if keys is None:  # from the environment, derived (and warned about) once
        env = os.environ
        return _env_keys(*(env.get(k, "") for k in ("PLUGBOARD_SERVICE_NAME", "PLUGBOARD_SERVICE_KEY",
                                                      "PLUGBOARD_SERVICE_KEY_PREVIOUS",
                                                      "PLUGBOARD_GATEWAY_SIGNING_SECRET")))
    if not isinstance(keys, ServiceKeys):
        raise TypeError("pass plugboard.ServiceKeys(service, key[, previous_key]) or None (the environment): "
                        "a bare secret does not say which service it verifies for")
    return keys


# Verification ---------------------------------------------------------------


def _header_values(headers: Any, name: str) -> list[str | bytes]:
    """All values of header name, case-insensitively, from an
    email.message.Message (http.server, http.client), a mapping, or a
    sequence of (name, value) pairs (ASGI's raw bytes included)."""
    get_all = getattr(headers, "get_all", None)
    if callable(get_all):  # email.message.Message
        return list(get_all(name) or [])
    lname = name.lower()
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[str | bytes] = []
    for k, v in items:
        ks = k.decode("latin-1") if isinstance(k, bytes) else str(k)
        if ks.lower() == lname:
            if isinstance(v, (list, tuple)):
                out.extend(v)
            else:
                out.append(v)
    return out


def _text(v: str | bytes) -> str:
    """A header value as text, undoing the ISO-8859-1 decoding of UTF-8."""
    raw = _b(v)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _split(v: str) -> list[str]:
    return [p for p in (s.strip() for s in v.split(",")) if p]


def verify_request(headers: Any, method: str, path: str, keys: ServiceKeys | None = None,
                   max_skew: float = DEFAULT_MAX_SKEW, *, now: float | None = None) -> Identity | None:
    """Checks the gateway's signed identity headers of one request.

    headers: the request's headers (email.message.Message such as
    BaseHTTPRequestHandler.headers, a dict, or (name, value) pairs);
    method: as received; path: the request target the service received —
    escaped path and query, as ``handler.path`` holds it; keys: the
    service's name and keys (service_keys() from the environment when None).

    Returns the Identity, or None when the headers are missing, repeated,
    forged, signed for another service, method or path, or the timestamp is more
    than max_skew seconds from now. The comparison is constant-time."""
    sk = _keys(keys)
    fields: dict[str, str | bytes] = {}
    for name in IDENTITY_HEADERS:
        vals = _header_values(headers, name)
        if len(vals) > 1:
            log.debug("refused: %s sent %d times", name, len(vals))
            return None
        fields[name] = vals[0] if vals else ""
    sig = _b(fields[HEADER_SIGNATURE]).strip().decode("latin-1")
    ts_raw = _b(fields[HEADER_TIMESTAMP]).decode("latin-1")
    if not sig or not ts_raw:
        log.debug("refused: no signature or timestamp")
        return None
    if not _TIMESTAMP.fullmatch(ts_raw):
        log.debug("refused: bad timestamp %r", ts_raw)
        return None
    now = time.time() if now is None else now
    if abs(now - int(ts_raw)) > max_skew:
        log.debug("refused: timestamp %s is more than %ss from now", ts_raw, max_skew)
        return None
    msg = b"\n".join(_b(f) for f in (
        sk.service.encode("utf-8"), method, path, fields[HEADER_USER_ID], fields[HEADER_TENANT_ID],
        fields[HEADER_ROLES], fields[HEADER_SCOPES], ts_raw))
    ok = False
    for key in sk.keys:  # every key, so that the time does not tell which matched
        want = hmac.new(key, msg, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(sig.encode("latin-1"), want.encode("ascii")) or ok
    if not ok:
        log.debug("refused: signature mismatch for %s %s", method, path)
        return None
    return Identity(
        user_id=_text(fields[HEADER_USER_ID]),
        tenant_id=_text(fields[HEADER_TENANT_ID]),
        roles=_split(_text(fields[HEADER_ROLES])),
        scopes=_split(_text(fields[HEADER_SCOPES])),
    )


def require_role(identity: Identity | None, *roles: str) -> Identity:
    """Returns identity when it has one of roles (any identity when no
    roles are given); a super_admin always passes, as at the gateway.
    Raises Unauthorized without an identity and Forbidden without a role."""
    if identity is None:
        raise Unauthorized()
    if not roles or identity.is_super_admin or identity.has_role(*roles):
        return identity
    raise Forbidden("This operation needs one of the roles " + ", ".join(roles) + ".")


def identity_from_handler(handler: Any, keys: ServiceKeys | None = None,
                          max_skew: float = DEFAULT_MAX_SKEW) -> Identity | None:
    """verify_request for a http.server.BaseHTTPRequestHandler."""
    path = handler.path.split("#", 1)[0]
    return verify_request(handler.headers, handler.command, path, keys, max_skew)
