"""OpenAI answers -> guard-core items, and the shapes both sides share. Pure: no I/O.

An answer is converted precisely where its fields are known (assistant text, refusals,
audio transcripts, each tool call, every Responses output item) and every other string it
carries (annotations, reasoning summaries, logprobs, fields an SDK release adds, as typed
attributes or as ``model_extra``) is screened as output text (:func:`leftover`), so nothing
the caller receives passes unread. An output item of a kind this code does not know is
judged as a call with all its fields.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guard_core.adapters.boundary import Found
from guard_core.content import AssistantMessage, Image, Item, Surface, ToolCall, UserMessage
from guard_core.errors import ContentError

from ._body import residual, walk

__all__ = [
    "Entry",
    "Failed",
    "Slot",
    "as_dict",
    "assistant_entries",
    "chat_response",
    "field",
    "image",
    "leftover",
    "responses_response",
    "texts_of",
]

Context = UserMessage | None
Calls = list[tuple[str | None, str, object]]


@dataclass(frozen=True, slots=True)
class Failed:
    """Something that should be screened but cannot be turned into an item."""

    surface: Surface
    error: ContentError


Entry = Item | Failed


@dataclass(frozen=True, slots=True)
class Slot:
    """One request entry and where it sits (``index`` into messages / input; -1: elsewhere)."""

    entry: Entry
    index: int


def as_dict(value: object, what: str) -> dict[str, Any]:
    """A message or part as a dict (the SDK accepts its own models inside requests)."""
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dict(dump(exclude_none=True, warnings=False))
    raise ContentError(f"{what} must be a dict or an OpenAI model, got {type(value).__name__}")


def field(value: object, name: str) -> Any:
    """``value.name`` for a model (extras too: openai 2.x keeps some fields as plain dicts),
    ``value[name]`` for a mapping."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def image(url: object, what: str) -> Image | Failed:
    if isinstance(url, Mapping):
        url = url.get("url")
    try:
        if not isinstance(url, str):
            raise ContentError(
                f"{what}: image has no URL (file ids cannot be screened); "
                "send it as a data: or https:// URL"
            )
        return Image(url=url)
    except ContentError as exc:
        return Failed("image", exc)


_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _tool_call(name: str, arguments: object, call_id: str | None, context: Context) -> Entry:
    try:
        if not isinstance(arguments, str | Mapping):
            raise ContentError("arguments must be a JSON object string")
        # ToolCall parses a JSON string itself (its annotation names only the parsed form)
        return ToolCall(name, arguments, id=call_id, context=context)
    except ContentError as exc:
        # The message ends up in refusals and exceptions the caller reads: it never quotes
        # the unjudged answer, only a name that is a plain identifier.
        shown = repr(name) if _TOOL_NAME.fullmatch(name) else "(a name that is not an identifier)"
        why = "not valid JSON" if "not valid JSON" in str(exc) else "not a JSON object"
        return Failed(
            "tool_call",
            ContentError(f"the model called tool {shown} with unusable arguments: {why}"),
        )


def assistant_entries(
    text: str, calls: Iterable[tuple[str | None, str, object]], context: Context
) -> list[Entry]:
    """One answer (text + ``(id, name, arguments)`` calls) as entries."""
    out: list[Entry] = [AssistantMessage(text, context=context)] if text else []
    out += [_tool_call(name, arguments, call_id, context) for call_id, name, arguments in calls]
    return out


def texts_of(*values: object) -> list[str]:
    return [v for v in values if isinstance(v, str) and v]


def chat_response(completion: Any, context: Context) -> tuple[list[Entry], set[str]]:
    """Each choice's text (content, refusal, audio transcript) and each of its tool calls;
    and the strings they cover."""
    out: list[Entry] = []
    covered: set[str] = set()
    for choice in field(completion, "choices") or ():
        message = field(choice, "message")
        texts = texts_of(
            field(message, "content"),
            field(message, "refusal"),
            field(field(message, "audio"), "transcript"),
        )
        calls: Calls = []
        for call in field(message, "tool_calls") or ():
            kind = field(call, "type")
            if kind == "function" and (function := field(call, "function")) is not None:
                name, arguments = field(function, "name"), field(function, "arguments")
            elif kind == "custom" and (custom := field(call, "custom")) is not None:
                name, arguments = field(custom, "name"), field(custom, "input")
                covered.update(texts_of(arguments))
                arguments = {"input": arguments}
            else:  # a kind newer than this code: its strings are screened as text
                continue
            covered.update(texts_of(name, arguments))
            calls.append((field(call, "id"), str(name), arguments))
        if (legacy := field(message, "function_call")) is not None:
            name, arguments = field(legacy, "name"), field(legacy, "arguments")
            covered.update(texts_of(name, arguments))
            calls.append((None, str(name), arguments))
        covered.update(texts)
        out += assistant_entries("\n".join(texts), calls, context)
    return out, covered


def responses_response(response: Any, context: Context) -> tuple[list[Entry], set[str]]:
    """The output text and refusals, and every other output item (function, custom, computer,
    MCP approval requests, ..., kinds newer than this code) judged as a call; and the strings
    they cover. A ``reasoning`` item's summary is screened as text by :func:`leftover`."""
    texts: list[str] = []
    calls: Calls = []
    images: list[Entry] = []
    covered: set[str] = set()
    for item in field(response, "output") or ():
        kind = field(item, "type")
        if kind == "message" and isinstance(field(item, "content"), list):
            for part in field(item, "content"):
                part_kind = field(part, "type")
                text = (
                    field(part, "text")
                    if part_kind == "output_text"
                    else field(part, "refusal")
                    if part_kind == "refusal"
                    else None
                )
                texts += texts_of(text)
        elif kind == "function_call":
            calls.append(
                (field(item, "call_id"), str(field(item, "name")), field(item, "arguments"))
            )
            covered.update(texts_of(field(item, "name"), field(item, "arguments")))
        elif kind == "custom_tool_call":
            calls.append(
                (field(item, "call_id"), str(field(item, "name")), {"input": field(item, "input")})
            )
            covered.update(texts_of(field(item, "name"), field(item, "input")))
        elif kind == "image_generation_call" and isinstance(field(item, "result"), str):
            images.append(_generated(field(item, "result")))
            covered.add(field(item, "result"))
        elif kind != "reasoning":
            fields = (
                item.model_dump(mode="json", exclude={"id", "type", "status"}, warnings=False)
                if hasattr(item, "model_dump")
                else as_dict(item, "output item")
            )
            name = field(item, "name")
            calls.append(
                (
                    field(item, "call_id"),
                    f"{kind}:{name}" if isinstance(name, str) else str(kind),
                    fields,
                )
            )
            covered.update(f.text for f in _quiet(fields))
    covered.update(texts)
    return [*assistant_entries("".join(texts), calls, context), *images], covered


def _generated(result: str) -> Entry:
    """A generated image (base64), judged as the image it is."""
    try:
        return Image(data=base64.b64decode(result, validate=True))
    except (binascii.Error, ValueError, ContentError) as exc:
        return Failed("image", ContentError(f"a generated image cannot be screened: {exc}"))


def _quiet(value: object) -> list[Found]:
    try:
        return walk(value, "")
    except ContentError:
        return []


_DERIVED = (".parsed", ".parsed_arguments")


def leftover(answer: Any, covered: Iterable[str], *, parsed: bool) -> list[Found]:
    """The strings of an answer no conversion read, nor judged or sent already. With
    ``parse()``, the SDK's ``parsed`` fields are read from text that is judged: left out."""
    found = walk(answer, "")
    if parsed:
        found = [
            f
            for f in found
            if not any(
                d + "." in f.path or d + "[" in f.path or f.path.endswith(d) for d in _DERIVED
            )
        ]
    return residual(found, covered=set(covered))
