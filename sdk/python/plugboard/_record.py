"""The base of the SDK's result types: dataclasses decoded from
the platform's JSON, whose attribute names are the JSON field names."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

__all__ = ["Record", "parse_time"]

_MISSING = object()


def parse_time(v: Any) -> datetime | None:
    """An RFC 3339 timestamp as the Go services write it (nanoseconds are
    cut to microseconds), or None when absent."""
    if not v:
        return None
    if isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


class Record:
    """Mapping-style read access for dataclass results, so that code written
    when the clients returned dicts (``inst["id"]``, ``entry.get("value")``)
    keeps working: ``r[name]`` is ``r.name``. New code should use the
    attributes."""

    def __getitem__(self, name: str) -> Any:
        if name in self._field_names():
            return getattr(self, name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in self._field_names() else default

    def __contains__(self, name: object) -> bool:
        return name in self._field_names()

    def keys(self) -> list[str]:
        return list(self._field_names())

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
