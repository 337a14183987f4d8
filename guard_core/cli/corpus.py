"""``guard-core screen-corpus``: screen every file of a folder; JSONL report; summary table.

Which files and lines are items: :mod:`guard_core.cli.corpus_files`. Items go to the guard
in chunks, each chunk concurrently (``Guard.acheck_many``, grouped by agent); the report gets
one write and a flush per chunk, so a Ctrl-C leaves only complete lines. A file that cannot
be read is an ``error`` record, never a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from guard_core.cli.common import (
    NO_CATEGORY,
    default_policy,
    load_policies,
    open_backend,
    out,
    plural,
    say,
    status_of,
    table,
)
from guard_core.cli.corpus_files import Entry, find_files, read_entries
from guard_core.content import Item
from guard_core.errors import GuardError
from guard_core.guard import Guard
from guard_core.policy import PolicySet

__all__ = ["Tally", "run_corpus"]


@dataclass
class Tally:
    """Counts, the progress line on stderr, and the summary."""

    files: int
    total_bytes: int
    show: bool
    tty: bool
    items: int = 0
    file_index: int = 0
    done_bytes: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    _shown_at: float = 0.0

    def add(self, records: Iterable[dict[str, Any]], last: Entry) -> None:
        for r in records:
            self.items += 1
            self.statuses[r["status"]] += 1
            if r["status"] == "blocked":
                self.categories.update(r.get("categories") or [NO_CATEGORY])
            if r["status"] == "error" and len(self.errors) < 5:
                where = r["path"] + (f":{r['line']}" if r["line"] else "")
                self.errors.append(f"{where}: {r['error']}")
        self.file_index, self.done_bytes = last.file_index, last.done_bytes
        self._progress()

    def _progress(self) -> None:
        now = time.perf_counter()
        # a terminal gets a live line; a log gets a line every 10 s, none for a short run
        last = self._shown_at if self.tty else self._shown_at or self.started
        if not self.show or now - last < (0.1 if self.tty else 10.0):
            return
        self._shown_at = now
        share = min(self.done_bytes / self.total_bytes, 1.0) if self.total_bytes else 0.0
        bar = "#" * int(20 * share)
        text = (
            f"screening [{bar:<20}] {share:4.0%} file {self.file_index + 1}/{self.files}, "
            f"{plural(self.items, 'item')}, "
            f"{self.statuses['blocked']} blocked, {plural(self.statuses['error'], 'error')}"
        )
        print(
            f"\r{text}" if self.tty else text,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    def end_progress(self) -> None:
        if self.show and self.tty and self._shown_at:
            print(file=sys.stderr, flush=True)

    def summary(self, other_files: int) -> str:
        seconds = time.perf_counter() - self.started
        lines = [
            f"screened {plural(self.items, 'item')} from {plural(self.files, 'file')} "
            f"in {seconds:.1f} s"
            + (f" ({plural(other_files, 'file')} of other types left out)" if other_files else ""),
            "",
        ]
        lines.append(
            table(
                ["status", "items"],
                [[s, str(self.statuses[s])] for s in ("allowed", "blocked", "error", "skipped")],
                right={1: True},
            )
        )
        if self.categories:
            rows = [[c, str(n)] for c, n in self.categories.most_common()]
            lines += ["", table(["blocked for", "items"], rows, right={1: True})]
        if self.errors:
            lines += ["", "first errors:", *(f"  {e}" for e in self.errors)]
        return "\n".join(lines)


async def _screen_chunk(guard: Guard, chunk: list[Entry]) -> list[dict[str, Any]]:
    groups: dict[str | None, list[tuple[int, Item]]] = {}
    for i, entry in enumerate(chunk):
        if entry.item is not None:
            groups.setdefault(entry.agent, []).append((i, entry.item))
    records: list[dict[str, Any] | None] = [None] * len(chunk)

    async def one(agent: str | None, members: list[tuple[int, Item]]) -> None:
        try:
            verdicts = await guard.acheck_many([item for _, item in members], agent=agent)
        except GuardError as exc:  # e.g. no policy for this agent
            for i, _ in members:
                chunk[i].error = str(exc)
            return
        for (i, _), verdict in zip(members, verdicts, strict=True):
            records[i] = {
                "path": chunk[i].path,
                "line": chunk[i].line,
                "status": status_of(verdict),
                **verdict.to_dict(),
            }

    await asyncio.gather(*(one(agent, members) for agent, members in groups.items()))
    return [
        r
        if r is not None
        else {
            "path": e.path,
            "line": e.line,
            "status": "error",
            "allowed": False,
            "surface": e.surface,
            "agent": e.agent,
            "error": e.error,
        }
        for r, e in zip(records, chunk, strict=True)
    ]


async def _screen(
    guard: Guard, entries: Iterator[Entry], chunk_size: int, report: TextIO | None, tally: Tally
) -> None:
    try:
        chunk: list[Entry] = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) < chunk_size:
                continue
            await _flush(guard, chunk, report, tally)
            chunk = []
        if chunk:
            await _flush(guard, chunk, report, tally)
    finally:
        await guard.aclose()


async def _flush(guard: Guard, chunk: list[Entry], report: TextIO | None, tally: Tally) -> None:
    records = await _screen_chunk(guard, chunk)
    if report is not None:
        # one write per chunk, then flush: an interrupt never leaves half a line behind
        report.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        report.flush()
    tally.add(records, chunk[-1])


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # The CLI owns this process and its main thread: Ctrl-C cancels the screening task.
        return asyncio.run(coro)  # noqa: TID251
    # main() called from inside a running loop (a notebook): run on a thread of its own
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # noqa: TID251


def run_corpus(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.exists() and not root.is_symlink():
        say(f"guard-core: error: {root}: no such file or folder")
        return 2
    files, other = find_files(root)
    if not files:
        say(
            f"guard-core: nothing to screen in {root}: no .txt, .md or .jsonl files "
            f"({plural(other, 'file')} of other types)"
        )
        return 2
    policies = load_policies(args.policy)
    report: TextIO | None = None
    if args.report == "-":
        report = sys.stdout
    elif args.report:
        try:
            report = open(args.report, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            say(f"guard-core: error: cannot write the report {args.report}: {exc.strerror}")
            return 2
    try:
        return _run_with_report(args, root, files, other, policies, report)
    finally:
        if report is not None and report is not sys.stdout:
            report.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _run_with_report(
    args: argparse.Namespace,
    root: Path,
    files: list[Path],
    other: int,
    policies: PolicySet | None,
    report: TextIO | None,
) -> int:
    backend, banner = open_backend(args, allow_demo=False)
    say(banner)
    try:
        guard = Guard(backend, policies if policies is not None else default_policy(backend.family))
    except BaseException:
        backend.close()
        raise
    to_file = args.report not in (None, "-")
    tally = Tally(len(files), sum(map(_size, files)), show=not args.quiet, tty=sys.stderr.isatty())

    def entries() -> Iterator[Entry]:
        done = 0
        for index, path in enumerate(files):
            shown = str(path.relative_to(root)) if root.is_dir() else str(path)
            for entry in read_entries(
                path, shown, surface=args.surface, agent=args.agent, max_bytes=args.max_bytes
            ):
                done += entry.nbytes
                entry.file_index, entry.done_bytes = index, done
                yield entry

    try:
        _run(_screen(guard, entries(), args.chunk_size, report, tally))
    except KeyboardInterrupt:
        tally.end_progress()
        say(
            f"guard-core: interrupted after {plural(tally.items, 'item')}"
            + (
                f"; {args.report} holds {'its' if tally.items == 1 else 'their'} "
                f"{plural(tally.items, 'complete line')}"
                if to_file
                else ""
            )
        )
        return 130
    tally.end_progress()
    if tally.items == 0:
        say(f"guard-core: nothing to screen in {root}: the files hold no items")
        return 2
    summary = tally.summary(other) + (f"\nreport: {args.report}" if to_file else "")
    (say if report is sys.stdout else out)(summary)
    return 1 if tally.statuses["blocked"] or tally.statuses["error"] else 0
