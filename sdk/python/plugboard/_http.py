"""A small JSON-over-HTTP helper on urllib, shared by the registry and
configuration-center clients. Standard library only."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Any, Mapping

from ._version import __version__

__all__ = ["PlugboardError", "HTTPError", "Unavailable", "request_json"]

USER_AGENT = "plugboard-python-sdk/" + __version__


class PlugboardError(Exception):
    """Base class of every error the SDK raises."""


class HTTPError(PlugboardError):
    """A non-2xx answer, with the RFC 9457 problem it carried (if any).

    ``status`` is the HTTP status, ``type``/``title``/``detail`` the
    problem's fields and ``errors`` the per-field messages of a 422."""

    def __init__(self, status: int, problem: Mapping[str, Any] | None = None, *, method: str = "", url: str = ""):
        problem = dict(problem or {})
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type") or "")
        self.title = str(problem.get("title") or "")
        self.detail = str(problem.get("detail") or "")
        errors = problem.get("errors")
        self.errors: dict[str, str] = dict(errors) if isinstance(errors, dict) else {}
        self.method, self.url = method, url
        msg = f"{method} {url} answered {status}".strip()
        if self.detail:
            msg += f": {self.detail}"
        if self.errors:
            msg += " (" + "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) + ")"
        super().__init__(msg)

    @property
    def is_transient(self) -> bool:
        """Whether trying again later may help (429 and 5xx)."""
        return self.status == 429 or self.status >= 500


class Unavailable(PlugboardError):
    """The server could not be reached (refused, reset, timed out, DNS)."""


def request_json(method: str, url: str, *, body: Any = None, headers: Mapping[str, str] | None = None,
                 timeout: float = 10.0) -> tuple[int, Mapping[str, str], Any]:
    """Sends one request and decodes a JSON answer.

    Returns (status, headers, decoded body or None). Raises HTTPError on a
    non-2xx answer and Unavailable when the server cannot be reached."""
    data = None
    hdrs = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if body is not None:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    if headers:
        hdrs.update(headers)
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, resp.headers, _decode(raw)
    except urllib.error.HTTPError as e:
        try:
            raw = e.read(1 << 20)
        except Exception:  # noqa: BLE001 - the body is a courtesy
            raw = b""
        finally:
            e.close()
        problem = _decode(raw)
        raise HTTPError(e.code, problem if isinstance(problem, dict) else None, method=method, url=url) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, socket.timeout) as e:
        reason = getattr(e, "reason", e)
        raise Unavailable(f"{method} {url}: {reason}") from e


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
