"""The items of a corpus: which files count, and how a file or a JSONL line becomes an item.

Each ``.txt`` / ``.md`` file is one item; each non-blank line of a ``.jsonl`` file is a
record ``{"text": ..., "surface": ..., "agent": ..., "context": ..., "tool": ...}`` (only
``text`` is required). Hidden files and folders are left out. Nothing here raises for a bad
file or line: it becomes an :class:`Entry` with ``error`` set, reported like a verdict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from guard_core.cli.common import TEXT_SURFACES, build_item
from guard_core.content import Item
from guard_core.errors import ContentError

__all__ = ["SUFFIXES", "Entry", "find_files", "read_entries"]

SUFFIXES = (".txt", ".md", ".jsonl")


@dataclass
class Entry:
    """One item of the corpus, or why it could not be read."""

    path: str
    line: int | None
    surface: str
    agent: str | None
    item: Item | None = None
    error: str | None = None
    nbytes: int = 0
    file_index: int = 0
    done_bytes: int = 0


def find_files(root: Path) -> tuple[list[Path], int]:
    """Files to screen under ``root`` (sorted) and how many other files were left out."""
    if not root.is_dir():
        return [root], 0
    found, other = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if name.lower().endswith(SUFFIXES):
                found.append(Path(dirpath, name))
            else:
                other += 1
    return found, other


def read_entries(
    path: Path, shown: str, *, surface: str, agent: str | None, max_bytes: int
) -> Iterator[Entry]:
    """The entries of one file; never raises for a bad file or line."""
    if path.suffix.lower() != ".jsonl":
        yield _text_entry(path, shown, surface, agent, max_bytes)
        return
    try:
        with path.open("rb") as lines:
            for number, raw in enumerate(lines, 1):
                if raw.strip():
                    entry = _record_entry(raw, shown, number, surface, agent, max_bytes)
                    entry.nbytes = len(raw)
                    yield entry
    except OSError as exc:
        yield Entry(shown, None, surface, agent, error=f"cannot read: {exc.strerror or exc}")


def _text_entry(path: Path, shown: str, surface: str, agent: str | None, max_bytes: int) -> Entry:
    entry = Entry(shown, None, surface, agent)
    try:
        entry.nbytes = path.stat().st_size
        if entry.nbytes > max_bytes:
            entry.error = f"file is over --max-bytes {max_bytes}; split it or raise the limit"
            return entry
        text = path.read_bytes().decode("utf-8-sig")
        entry.item = build_item(surface, text, source=shown)
    except OSError as exc:
        entry.error = f"cannot read: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        entry.error = f"not UTF-8 text (bad byte at offset {exc.start}); convert or remove it"
    except ContentError as exc:
        entry.error = str(exc)
    return entry


def _record_entry(
    raw: bytes, shown: str, number: int, surface: str, agent: str | None, max_bytes: int
) -> Entry:
    entry = Entry(shown, number, surface, agent)
    if len(raw) > max_bytes:
        entry.error = f"line is over --max-bytes {max_bytes}"
        return entry
    try:
        record = json.loads(raw)
    except ValueError as exc:  # bad JSON or bad UTF-8
        entry.error = f"not a JSON line: {exc}"
        return entry
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        entry.error = 'each line must be a JSON object with a "text" string'
        return entry
    entry.surface = record.get("surface", surface)
    entry.agent = record.get("agent", agent)
    strings = {k: record.get(k) for k in ("agent", "context", "tool")}
    bad = [k for k, v in strings.items() if v is not None and not isinstance(v, str)]
    if entry.surface not in TEXT_SURFACES:
        entry.error = (
            f"surface {entry.surface!r} is not one of {', '.join(TEXT_SURFACES)} "
            "(images are screened with `guard-core screen --surface image`)"
        )
    elif bad:
        entry.error = f'"{bad[0]}" must be a string'
    else:
        try:
            entry.item = build_item(
                entry.surface,
                record["text"],
                context=strings["context"],
                tool=strings["tool"],
                source=f"{shown}:{number}",
            )
        except ContentError as exc:
            entry.error = str(exc)
    return entry
