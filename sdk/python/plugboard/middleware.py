"""WSGI and ASGI middleware that admit only requests signed by the gateway.

Flask::

    from plugboard import GatewayAuthWSGI
    app.wsgi_app = GatewayAuthWSGI(app.wsgi_app, public_paths={"/health"})
    # in a view: request.environ["plugboard.identity"]

FastAPI / Starlette::

    from plugboard import GatewayAuthASGI
    app.add_middleware(GatewayAuthASGI, public_paths={"/health"})
    # in an endpoint: request.state.plugboard_identity

A request without a valid signature is answered 401 problem+json, unless
its path is public, in which case it passes with identity None (the
gateway still signs a public request that carried valid credentials).
Public paths are matched against the application's own path (PATH_INFO,
or the ASGI path without root_path); pass a callable (method, path) ->
bool for anything smarter than a set of exact paths."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any, Callable, Collection, Iterable

from .identity import DEFAULT_MAX_SKEW, Identity, ServiceKeys, service_keys, verify_request
from .responses import problem

__all__ = ["GatewayAuthWSGI", "GatewayAuthASGI", "WSGI_ENVIRON_KEY", "ASGI_STATE_KEY"]

log = logging.getLogger("plugboard.middleware")

WSGI_ENVIRON_KEY = "plugboard.identity"
ASGI_STATE_KEY = "plugboard_identity"
_UNSIGNED = "This request did not come through the gateway with a valid signed identity."

# Characters Go's url.URL.EscapedPath leaves alone in a path.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"

PublicPaths = Collection[str] | Callable[[str, str], bool] | None


def _public_matcher(public_paths: PublicPaths) -> Callable[[str, str], bool]:
    if public_paths is None:
        return lambda method, path: False
    if callable(public_paths):
        return public_paths
    paths = frozenset(public_paths)
    return lambda method, path: path in paths


class GatewayAuthWSGI:
    """WSGI middleware: verifies the gateway signature and stores the
    Identity (or None on a public path) in environ["plugboard.identity"]."""

    def __init__(self, app: Callable[..., Iterable[bytes]], keys: ServiceKeys | None = None, *,
                 public_paths: PublicPaths = None, max_skew: float = DEFAULT_MAX_SKEW):
        self.app = app
        self.keys = keys if keys is not None else service_keys()
        self.is_public = _public_matcher(public_paths)
        self.max_skew = max_skew

    @staticmethod
    def received_path(environ: dict[str, Any]) -> str:
        """The request target (escaped path and query) as the server received
        it: what the gateway signed."""
        for k in ("RAW_URI", "REQUEST_URI"):  # gunicorn, uWSGI and others
            raw = environ.get(k)
            if raw:
                if "://" in raw:  # absolute-form request target
                    parts = urllib.parse.urlsplit(raw)
                    raw = parts.path + ("?" + parts.query if parts.query else "")
                return raw.split("#", 1)[0]
        decoded = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1")
        target = urllib.parse.quote(decoded, safe=_PATH_SAFE) or "/"
        query = environ.get("QUERY_STRING", "")
        return target + "?" + query if query else target

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
        identity = verify_request(headers, environ.get("REQUEST_METHOD", "GET"), self.received_path(environ),
                                  self.keys, self.max_skew)
        app_path = environ.get("PATH_INFO", "") or "/"
        if identity is None and not self.is_public(environ.get("REQUEST_METHOD", "GET"), app_path):
            body = problem(401, _UNSIGNED, instance=app_path)
            start_response("401 Unauthorized", [("Content-Type", "application/problem+json"),
                                                ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
            return [body]
        environ[WSGI_ENVIRON_KEY] = identity
        return self.app(environ, start_response)


class GatewayAuthASGI:
    """ASGI middleware: verifies the gateway signature of http and
    websocket requests and puts the Identity (or None on a public path) in
    scope["state"]["plugboard_identity"] (Starlette: request.state) and
    scope["plugboard.identity"]. Lifespan and other scopes pass through."""

    def __init__(self, app: Callable[..., Any], keys: ServiceKeys | None = None, *,
                 public_paths: PublicPaths = None, max_skew: float = DEFAULT_MAX_SKEW):
        self.app = app
        self.keys = keys if keys is not None else service_keys()
        self.is_public = _public_matcher(public_paths)
        self.max_skew = max_skew

    @staticmethod
    def received_path(scope: dict[str, Any]) -> str:
        """The request target (escaped path and query) as received."""
        raw = scope.get("raw_path")
        if raw:
            target = raw.decode("latin-1")
        else:
            full = (scope.get("root_path", "") + scope.get("path", "")).encode("utf-8")
            target = urllib.parse.quote(full, safe=_PATH_SAFE) or "/"
        if "?" not in target:
            query = scope.get("query_string") or b""
            if query:
                target += "?" + query.decode("latin-1")
        return target

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if kind == "http" else "GET"
        identity: Identity | None = verify_request(scope.get("headers") or [], method, self.received_path(scope),
                                                   self.keys, self.max_skew)
        path = scope.get("path", "") or "/"
        root = scope.get("root_path", "")
        app_path = path[len(root):] if root and path.startswith(root) else path
        if identity is None and not self.is_public(method, app_path):
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "unsigned request"})
                return
            body = problem(401, _UNSIGNED, instance=app_path)
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": body})
            return
        scope = dict(scope)  # never mutate a state dict another request may share
        scope["state"] = dict(scope.get("state") or {})
        scope["state"][ASGI_STATE_KEY] = identity
        scope["plugboard.identity"] = identity
        await self.app(scope, receive, send)
