#!/usr/bin/env python3
"""notes-py: a tenant-scoped notes API, as a Plugboard plugin in Python
using only the standard library and the SDK in sdk/python.

    GET    /health        public liveness (the registry probes it)
    GET    /notes         the caller's tenant's notes        (any identity)
    POST   /notes         {"text": "...", "title": "..."}    (any identity)
    GET    /notes/{id}    one note of the caller's tenant    (any identity)
    DELETE /notes/{id}    delete a note                      (tenant_admin)

Every request except /health must carry the gateway's signed identity
headers (PLUGBOARD_SERVICE_KEY, its own key); notes live in memory, one
store per tenant. The longest note accepted is the configuration entry
notes/max_note_length (global scope) when core is reachable with a
credential, 1000 characters otherwise. See README.md next to this file."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    import plugboard
except ImportError:  # run from a checkout: use the SDK next door
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))
    import plugboard

from plugboard import Endpoint, Forbidden, Identity, ServiceConfig, Unauthorized

log = logging.getLogger("notes")

SERVICE = "notes"
DEFAULT_MAX_NOTE_LENGTH = 1000
MAX_BODY = 64 * 1024

ENDPOINTS = [
    Endpoint("/health", "GET", "Liveness", is_public=True),
    Endpoint("/notes", "GET", "List the tenant's notes"),
    Endpoint("/notes", "POST", "Create a note"),
    Endpoint("/notes/{id}", "GET", "Read a note"),
    Endpoint("/notes/{id}", "DELETE", "Delete a note", required_roles=["tenant_admin"]),
]


class Settings:
    """max_note_length, from the configuration center when available."""

    def __init__(self) -> None:
        self.max_note_length = DEFAULT_MAX_NOTE_LENGTH
        self.source = "default"
        self.watch: plugboard.ConfigWatch | None = None

    def set(self, value: Any, source: str) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            self.max_note_length, self.source = value, source
            log.info("max_note_length = %d (%s)", value, source)
        elif value is None:
            self.max_note_length, self.source = DEFAULT_MAX_NOTE_LENGTH, "default"
        else:
            log.warning("ignoring max_note_length %r: not a positive integer", value)

    def load(self) -> None:
        client = plugboard.ConfigClient.from_env()
        if client is None:
            log.info("no core credential (PLUGBOARD_CORE_TOKEN, PLUGBOARD_API_KEY or PLUGBOARD_CORE_USERNAME/"
                     "PASSWORD): max_note_length = %d", self.max_note_length)
            return
        try:
            self.set(client.get(SERVICE, "max_note_length", default=None), "config center")
        except plugboard.HTTPError as e:  # refused (such as 401): do not insist
            log.warning("configuration center refused (%s): max_note_length = %d", e, self.max_note_length)
            return
        except plugboard.Unavailable as e:  # the watch below picks it up once core answers
            log.warning("configuration center unavailable (%s): max_note_length = %d for now", e,
                        self.max_note_length)

        def changed(ch: plugboard.ConfigChange) -> None:
            if ch.key == "max_note_length":
                self.set(None if ch.deleted else ch.value, "config center")

        def snapshot(entries: list[plugboard.ConfigEntry]) -> None:
            for e in entries:
                if e.key == "max_note_length" and e.value != self.max_note_length:
                    self.set(e.value, "config center")

        self.watch = client.watch(SERVICE, changed, on_snapshot=snapshot)


class Store:
    """Notes in memory, one dict per tenant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, dict[str, dict[str, Any]]] = {}

    def list(self, tenant: str) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._tenants.get(tenant, {}).values(), key=lambda n: n["created_at"])

    def add(self, tenant: str, note: dict[str, Any]) -> None:
        with self._lock:
            self._tenants.setdefault(tenant, {})[note["id"]] = note

    def get(self, tenant: str, note_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._tenants.get(tenant, {}).get(note_id)

    def delete(self, tenant: str, note_id: str) -> bool:
        with self._lock:
            return self._tenants.get(tenant, {}).pop(note_id, None) is not None


class NotesHandler(BaseHTTPRequestHandler):
    server_version = "notes-py/1.0"
    # Set by make_server.
    store: Store
    settings: Settings
    keys: plugboard.ServiceKeys
    base_path: str = ""

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    # Routing ------------------------------------------------------------------

    def _route(self) -> tuple[str, str | None] | None:
        """(collection, id) of the request's path below base_path."""
        path = self.path.split("?", 1)[0]
        if self.base_path:
            if not (path == self.base_path or path.startswith(self.base_path + "/")):
                return None
            path = path[len(self.base_path):] or "/"
        parts = path.strip("/").split("/")
        if path == "/health":
            return "health", None
        if parts == ["notes"]:
            return "notes", None
        if len(parts) == 2 and parts[0] == "notes" and parts[1]:
            return "note", parts[1]
        return None

    def _dispatch(self, method: str) -> None:
        route = self._route()
        if route is None:
            return plugboard.send_problem(self, 404, f"No such resource: {self.path.split('?', 1)[0]}.")
        kind, note_id = route
        allowed = {"health": ("GET", "HEAD"), "notes": ("GET", "HEAD", "POST"), "note": ("GET", "HEAD", "DELETE")}[kind]
        if method not in allowed:
            return plugboard.send_problem(self, 405, f"{method} is not allowed here.", headers={"Allow": ", ".join(allowed)})
        if kind == "health":
            return plugboard.send_json(self, 200, {"status": "ok"})
        try:
            identity = plugboard.identity_from_handler(self, self.keys)
            if identity is None:
                raise Unauthorized()
            if not identity.tenant_id:
                raise Forbidden("Notes belong to a tenant; this identity has none.")
            if kind == "notes" and method == "POST":
                return self._create(identity)
            if kind == "notes":
                return plugboard.send_json(self, 200, self.store.list(identity.tenant_id))
            if method == "DELETE":
                plugboard.require_role(identity, "tenant_admin")
                if not self.store.delete(identity.tenant_id, note_id):
                    return plugboard.send_problem(self, 404, f"Note {note_id!r} not found.")
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            note = self.store.get(identity.tenant_id, note_id)
            if note is None:  # another tenant's note is not found either
                return plugboard.send_problem(self, 404, f"Note {note_id!r} not found.")
            return plugboard.send_json(self, 200, note)
        except (Unauthorized, Forbidden) as e:
            return plugboard.send_problem(self, e.status, e.detail)

    def _create(self, identity: Identity) -> None:
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            return plugboard.send_problem(self, 400, "Content-Length is not a number.")
        if length > MAX_BODY:
            return plugboard.send_problem(self, 413, f"The body may be at most {MAX_BODY} bytes.")
        if length <= 0:
            return plugboard.send_problem(self, 400, "A JSON body is required.")
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            return plugboard.send_problem(self, 400, "The body is not valid JSON.")
        if not isinstance(body, dict):
            return plugboard.send_problem(self, 422, "The body must be a JSON object.", errors={"": "must be an object"})
        errors: dict[str, str] = {}
        text, title = body.get("text"), body.get("title", "")
        limit = self.settings.max_note_length
        if not isinstance(text, str) or not text.strip():
            errors["text"] = "is required"
        elif len(text) > limit:
            errors["text"] = f"must be at most {limit} characters"
        if not isinstance(title, str):
            errors["title"] = "must be a string"
        elif len(title) > 200:
            errors["title"] = "must be at most 200 characters"
        unknown = sorted(set(body) - {"text", "title"})
        for k in unknown:
            errors[k] = "unknown field"
        if errors:
            return plugboard.send_problem(self, 422, "Invalid note.", errors=errors)
        note = {
            "id": str(uuid.uuid4()), "title": title, "text": text, "created_by": identity.user_id,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }
        self.store.add(identity.tenant_id, note)
        plugboard.send_json(self, 201, note, headers={"Location": f"{self.base_path}/notes/{note['id']}"})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")


def make_server(cfg: ServiceConfig, keys: plugboard.ServiceKeys, settings: Settings | None = None) -> ThreadingHTTPServer:
    """A bound, listening server for cfg (port 0: any free port)."""
    handler = type("Handler", (NotesHandler,), {
        "store": Store(), "settings": settings or Settings(), "keys": keys, "base_path": cfg.base_path.rstrip("/"),
    })
    return ThreadingHTTPServer((cfg.listen_host, cfg.port), handler)


def main() -> int:
    logging.basicConfig(level=os.environ.get("PLUGBOARD_LOG_LEVEL", "info").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        cfg = ServiceConfig.from_env(name=SERVICE, display_name="Notes (Python)", version="1.0.0", port=9102,
                                     health_check_url="/health", endpoints=ENDPOINTS, tags=["example", "python"],
                                     metadata={"language": "python", "example": "notes-py"})
        keys = plugboard.service_keys(service=cfg.name)
    except (plugboard.ConfigurationError, ValueError) as e:
        print(f"notes: {e}", file=sys.stderr)
        return 2
    settings = Settings()
    settings.load()
    server = make_server(cfg, keys, settings)
    host, port = server.server_address[:2]
    cfg.port = port
    print(f"notes: listening on http://{host}:{port}{cfg.base_path} (registering {cfg.host}:{port} "
          f"with {cfg.registry_url})", flush=True)
    try:
        plugboard.run(cfg, server)
    except plugboard.RegistrationError as e:
        print(f"notes: the registry refused the registration: {e}", file=sys.stderr)
        return 1
    finally:
        if settings.watch is not None:
            settings.watch.stop()
    print("notes: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
