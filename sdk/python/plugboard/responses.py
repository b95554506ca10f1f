"""The responses a plugin writes: RFC 9457 problem+json bodies in the
platform's shape (type ``/problems/<code>``) and JSON answers from a
http.server.BaseHTTPRequestHandler."""

from __future__ import annotations

import json
from typing import Any, Mapping

__all__ = ["problem", "send_problem", "send_json"]

# The platform's problem types by status: a copy of the Go table in
# internal/httpx problemTypes, pinned by sdk/problem_test.go.
_CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          408: "timeout", 409: "conflict", 412: "precondition", 413: "too_large", 415: "invalid", 422: "invalid",
          429: "rate_limited", 500: "internal", 502: "bad_gateway", 503: "unavailable", 504: "gateway_timeout"}
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 412: "Precondition Failed",
           413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


def problem(status: int, detail: str = "", *, instance: str | None = None, type: str | None = None,
            title: str | None = None, **extra: Any) -> bytes:
    """An RFC 9457 problem+json body, in the platform's shape
    (type /problems/<code>)."""
    body: dict[str, Any] = {
        "type": type or "/problems/" + _CODES.get(status, "internal" if status >= 500 else "invalid"),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n"


def send_json(handler: Any, status: int, value: Any, content_type: str = "application/json",
              headers: Mapping[str, str] | None = None) -> None:
    """Writes a JSON answer from a http.server.BaseHTTPRequestHandler."""
    body = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n"
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def send_problem(handler: Any, status: int, detail: str = "", headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
    """Writes a problem+json answer from a BaseHTTPRequestHandler."""
    body = problem(status, detail, instance=handler.path.split("?", 1)[0], **extra)
    send_json(handler, status, body, "application/problem+json", headers)
