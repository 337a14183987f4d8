"""The audit trail: one JSON line per verdict, safe under many threads, tasks and processes.

A record holds time, agent, surface, policy, the verdict, categories, reasoning, score,
latency and any error, plus a SHA-256 of the screened content (never the content itself,
never an API key).

>>> import tempfile, os
>>> log = AuditLog(os.path.join(tempfile.mkdtemp(), "audit.jsonl"))
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from guard_core.verdict import Verdict, valid_text

__all__ = ["AuditLog", "AuditSink", "MemoryAudit", "audit_record"]

# Line breaks to str.splitlines() and many JSONL readers, which json.dumps leaves raw
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


@runtime_checkable
class AuditSink(Protocol):
    """Anything that takes audit records; must be thread-safe."""

    def write(self, record: dict[str, Any]) -> None: ...


def audit_record(verdict: Verdict, content_hash: str | None = None) -> dict[str, Any]:
    """The record for one verdict."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    record: dict[str, Any] = {"time": f"{stamp}.{int(now % 1 * 1e6):06d}Z"}
    record.update(verdict.to_dict())
    record["content_sha256"] = content_hash
    return record


class AuditLog:
    """Appends JSON lines to ``path``.

    Each record is written with one ``os.write`` on an ``O_APPEND`` descriptor under a lock,
    so lines never interleave, across threads and across processes sharing the file. Every
    record is one line of valid UTF-8 JSON, whatever text it holds (control characters and
    Unicode line breaks are escaped, a lone surrogate becomes U+FFFD).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        text = json.dumps(record, ensure_ascii=False, default=str)
        if not text.isascii():  # JSON holds these only inside strings: escape them there
            text = valid_text(text).translate(_LINE_BREAKS)
        line = (text + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise ValueError(f"audit log {self.path} is closed")
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"


class MemoryAudit:
    """Keeps records in a list (tests, notebooks)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)

    def __repr__(self) -> str:
        return f"MemoryAudit({len(self.records)} records)"
