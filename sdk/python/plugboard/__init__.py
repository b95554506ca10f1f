"""Plugboard SDK for Python plugin services (standard library only).

Life cycle: start → register → heartbeat → serve → deregister → stop::

    from http.server import ThreadingHTTPServer
    import plugboard

    cfg = plugboard.ServiceConfig.from_env(name="notes", endpoints=[...])
    server = ThreadingHTTPServer((cfg.listen_host, cfg.port), Handler)
    plugboard.run(cfg, server)   # registers, heartbeats, deregisters on SIGTERM

Requests that came through the gateway carry signed identity headers::

    identity = plugboard.identity_from_handler(handler)   # Identity or None

See sdk/python/README.md."""

import logging as _logging

from ._http import HTTPError, PlugboardError, Unavailable
from .configcenter import DEFAULT_CORE_URL, Author, ConfigChange, ConfigClient, ConfigEntry, ConfigWatch, PasswordLogin
from .identity import (
    HEADER_ROLES, HEADER_SCOPES, HEADER_SIGNATURE, HEADER_TENANT_ID, HEADER_TIMESTAMP, HEADER_USER_ID,
    IDENTITY_HEADERS, SERVICE_KEY_LABEL, SUPER_ADMIN, Forbidden, Identity, ServiceKeys, Unauthorized,
    identity_from_handler, require_role, service_key, service_keys, sign, signed_headers, signing_secret,
    verify_request,
)
from .middleware import ASGI_STATE_KEY, WSGI_ENVIRON_KEY, GatewayAuthASGI, GatewayAuthWSGI
from .registry import Heartbeat, Instance, Registration, RegistrationError, RegistryClient
from .responses import problem, send_json, send_problem
from .runner import run
from .service import DEFAULT_REGISTRY_URL, ConfigurationError, Endpoint, RateLimit, ServiceConfig
from ._version import __version__


# A library logs; the application decides where to (logging.basicConfig).
_logging.getLogger("plugboard").addHandler(_logging.NullHandler())

__all__ = [
    # service description
    "ServiceConfig", "Endpoint", "RateLimit", "ConfigurationError", "DEFAULT_REGISTRY_URL",
    # registry and life cycle
    "RegistryClient", "Registration", "RegistrationError", "Instance", "Heartbeat", "run",
    # identity
    "Identity", "verify_request", "require_role", "identity_from_handler", "sign", "signed_headers",
    "signing_secret", "service_key", "service_keys", "ServiceKeys", "SERVICE_KEY_LABEL", "Unauthorized", "Forbidden", "SUPER_ADMIN", "IDENTITY_HEADERS", "HEADER_USER_ID",
    "HEADER_TENANT_ID", "HEADER_ROLES", "HEADER_SCOPES", "HEADER_TIMESTAMP", "HEADER_SIGNATURE",
    "GatewayAuthWSGI", "GatewayAuthASGI", "WSGI_ENVIRON_KEY", "ASGI_STATE_KEY",
    # problems and responses
    "problem", "send_problem", "send_json",
    # configuration center
    "ConfigClient", "ConfigWatch", "PasswordLogin", "DEFAULT_CORE_URL", "ConfigEntry", "ConfigChange", "Author",
    # errors
    "PlugboardError", "HTTPError", "Unavailable",
    "__version__",
]
