"""Pieces the ``guard-core`` commands share: backend and policy from flags, items, output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from guard_core.backends.autoselect import select_backend
from guard_core.backends.base import Backend
from guard_core.content import (
    SURFACES,
    AssistantMessage,
    Image,
    Item,
    RetrievedChunk,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.errors import ContentError
from guard_core.models import ModelFamily
from guard_core.policy import Policy, PolicySet
from guard_core.verdict import Verdict

__all__ = [
    "add_backend_flags",
    "build_item",
    "default_policy",
    "excerpt",
    "load_policies",
    "open_backend",
    "out",
    "plural",
    "reason_text",
    "say",
    "status_of",
    "table",
    "verdict_json",
    "verdict_text",
]

TEXT_SURFACES = tuple(s for s in SURFACES if s != "image")


def say(message: str) -> None:
    """A line for the person at the terminal (stderr), printed at once."""
    print(message, file=sys.stderr, flush=True)


def out(message: str) -> None:
    """A line of the command's result (stdout)."""
    print(message, file=sys.stdout, flush=True)


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend-url",
        metavar="URL",
        help="an OpenAI-compatible server (http://HOST:PORT/v1); overrides the "
        "environment. Its key, if any, comes from GUARD_API_KEY, never a flag",
    )
    parser.add_argument("--model", help="guard model id (default: the backend's; env GUARD_MODEL)")


def open_backend(args: argparse.Namespace, *, allow_demo: bool) -> tuple[Backend, str]:
    """The backend the environment and the ``--backend-url`` / ``--model`` flags ask for."""
    env = dict(os.environ)
    if getattr(args, "backend_url", None):
        env["GUARD_BASE_URL"] = args.backend_url
        env["GUARD_BACKEND"] = "url"
    if getattr(args, "model", None):
        env["GUARD_MODEL"] = args.model
    return select_backend(env, allow_demo=allow_demo)


def load_policies(path: str | None) -> PolicySet | None:
    """The ``--policy`` file, if given; a bad file raises ``PolicyError``."""
    return PolicySet.from_file(path) if path else None


def default_policy(family: ModelFamily, name: str = "default") -> Policy:
    """The standard taxonomy, asking for categories where the model can give them."""
    return Policy(name=name, mode="categories" if "categories" in family.modes else "fast")


def build_item(
    surface: str,
    text: str,
    *,
    context: str | None = None,
    tool: str | None = None,
    source: str | None = None,
) -> Item:
    """One item from text, as the CLI and corpus records describe it.

    ``tool_call``: ``text`` is the JSON arguments of tool ``tool``; ``image``: ``text`` is a
    file path or an ``https://`` / ``data:`` URL.
    """
    if surface == "input":
        return UserMessage(text)
    request = UserMessage(context) if context is not None else None
    if surface == "output":
        return AssistantMessage(text, context=request)
    if surface == "tool_call":  # ToolCall parses the JSON and says what is wrong with it
        return ToolCall(tool or "tool", text, context=request)
    if surface == "tool_result":
        return ToolResult(tool or "tool", text)
    if surface == "retrieval":
        return RetrievedChunk(text, source=source)
    if surface == "image":
        if text.startswith(("https://", "http://", "data:")):
            return Image(url=text, caption=context)
        try:
            return Image.from_path(text, caption=context)
        except OSError as exc:
            raise ContentError(f"cannot read image {text!r}: {exc.strerror or exc}") from None
    raise ContentError(f"unknown surface {surface!r}; use one of {', '.join(SURFACES)}")


NO_CATEGORY = "(the model named no category)"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, the plural (``many``, default ``word + "s"``) unless one.

    >>> plural(1, "file"), plural(3, "file"), plural(0, "entry", "entries")
    ('1 file', '3 files', '0 entries')
    """
    return f"{count} {word if count == 1 else many or word + 's'}"


def status_of(verdict: Verdict) -> str:
    """``allowed``, ``blocked``, ``error`` (the guard could not judge) or ``skipped``."""
    if verdict.error is not None:
        return "error"
    if not verdict.screened:
        return "skipped"
    return "allowed" if verdict.allowed else "blocked"


def verdict_text(verdict: Verdict) -> str:
    """A verdict as a few readable lines."""
    head = {
        "allowed": "ALLOWED",
        "skipped": "ALLOWED (not screened: the policy skips it or there is no text)",
        "blocked": f"BLOCKED ({verdict.decision})",
        "error": "ERROR (blocked: fail closed)"
        if not verdict.allowed
        else "ERROR (allowed: on_error=allow)",
    }[status_of(verdict)]
    lines = [head, f"  {'reason:':<11} {reason_text(verdict)}"]
    for key, value in verdict._rows():  # the same rows as the notebook and markdown views
        if key == "reasoning":
            lines += ["  reasoning:", *(f"    {line}" for line in value.strip().splitlines())]
        else:
            lines.append(f"  {key + ':':<11} {value}")
    return "\n".join(lines)


def reason_text(verdict: Verdict) -> str:
    """Why this verdict, in one line, for every model family: a block names its categories,
    or says the model named none (Content Safety Reasoning 4B never does; it answers only
    safe or unsafe, with its reasoning in ``think`` mode)."""
    if status_of(verdict) == "blocked" and not verdict.categories:
        return f"{verdict.reason} {NO_CATEGORY}"
    return verdict.reason


def verdict_json(verdict: Verdict, **extra: Any) -> str:
    return json.dumps(
        {**extra, "status": status_of(verdict), **verdict.to_dict()}, ensure_ascii=False
    )


def excerpt(item: Item, width: int = 52) -> str:
    """A one-line preview of an item."""
    if isinstance(item, ToolCall):
        text = f"{item.name}({item.arguments_json})"
    elif isinstance(item, ToolResult):
        text = f"{item.name} -> {item.content}"
    elif isinstance(item, Image):
        text = f"<image {item.mime_type}>"
    else:
        text = item.text
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Mapping[int, bool] | None = None
) -> str:
    """A plain-text table; columns in ``right`` are right-aligned."""
    right = right or {}
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(w) if right.get(i) else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
