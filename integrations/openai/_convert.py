"""OpenAI request and response shapes -> guard-core items. Pure: no I/O, no SDK calls.

Every caller-side entry of a request is screened on every call (user text and images, tool
results), not only the new turn: something blocked or withheld earlier must never reach the
model on a later call, and the guard's cache makes the repeats cheap. System and developer
prompts are screened only with ``screen_system=True``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guard_core.content import (
    AssistantMessage,
    Image,
    Item,
    Surface,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.errors import ContentError

__all__ = ["Failed", "Slot", "as_dict", "assistant_entries", "chat_request", "chat_response",
           "responses_request", "responses_response"]

_SYSTEM_ROLES = ("system", "developer")


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
        return dict(dump(exclude_none=True))
    raise ContentError(f"{what} must be a dict or an OpenAI model, got {type(value).__name__}")


def _text(content: object, what: str, text_types: tuple[str, ...]) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, Iterable):
        raise ContentError(f"{what} content must be a str or a list of parts")
    texts = []
    for part in content:
        p = as_dict(part, f"{what} part")
        if p.get("type") not in text_types:
            raise ContentError(f"{what}: cannot screen a {p.get('type')!r} part here; "
                               "send text, or screen it yourself with Guard.check")
        texts.append(str(p.get("text", "")))
    return "\n".join(texts)


def _image(url: object, what: str) -> Image | Failed:
    if isinstance(url, Mapping):
        url = url.get("url")
    try:
        if not isinstance(url, str):
            raise ContentError(f"{what}: image has no URL (file ids cannot be screened); "
                               "send it as a data: or https:// URL")
        return Image(url=url)
    except ContentError as exc:
        return Failed("image", exc)


def _user(content: object, what: str) -> list[Entry]:
    """A user turn: one UserMessage (text + images); images that fail become Failed."""
    if content is None or isinstance(content, str):
        return [UserMessage(content or "")]
    if not isinstance(content, Iterable):
        raise ContentError(f"{what} content must be a str or a list of parts, "
                           f"got {type(content).__name__}")
    texts: list[str] = []
    images: list[Image] = []
    out: list[Entry] = []
    for part in content:
        p = as_dict(part, f"{what} part")
        kind = p.get("type")
        if kind in ("text", "input_text"):
            texts.append(str(p.get("text", "")))
        elif kind in ("image_url", "input_image"):
            image = _image(p.get("image_url"), what)
            if isinstance(image, Failed):
                out.append(image)
            else:
                images.append(image)
        else:
            out.append(Failed("input", ContentError(
                f"{what}: cannot screen a {kind!r} part; send text or images, or screen it "
                "yourself with Guard.check before calling the model")))
    return [UserMessage("\n".join(texts), images=tuple(images)), *out]


def _last_user_text(entries: Iterable[Entry]) -> UserMessage | None:
    last = None
    for entry in entries:
        if isinstance(entry, UserMessage):
            last = entry
    return UserMessage(last.text) if last is not None else None


def chat_request(messages: list[Any], *, screen_system: bool
                 ) -> tuple[list[Slot], UserMessage | None]:
    """Every caller-side entry of a chat request, and the latest user text (output context).

    The whole history is screened on every call, not only the new turn: a message blocked
    or a tool result withheld earlier must not reach the model on a later call. The guard's
    cache answers repeats without asking the model again.
    """
    dicts = [as_dict(m, f"messages[{i}]") for i, m in enumerate(messages)]
    names: dict[str, str] = {}
    last_user: UserMessage | None = None
    slots: list[Slot] = []
    for i, m in enumerate(dicts):
        role, what = m.get("role"), f"messages[{i}] ({m.get('role')})"
        if role == "assistant":
            for call in m.get("tool_calls") or ():
                call = as_dict(call, f"messages[{i}].tool_calls")
                function = as_dict(call.get("function") or call.get("custom") or {}, "function")
                names[str(call.get("id"))] = str(function.get("name", "tool"))
        elif role in _SYSTEM_ROLES:
            if screen_system:
                slots.append(Slot(UserMessage(_text(m.get("content"), what, ("text",))), i))
        elif role == "user":
            entries = _user(m.get("content"), what)
            last_user = _last_user_text(entries)
            slots += [Slot(entry, i) for entry in entries]
        elif role in ("tool", "function"):
            call_id = m.get("tool_call_id")
            name = names.get(str(call_id), m.get("name") or "tool")
            slots.append(Slot(ToolResult(str(name), _text(m.get("content"), what, ("text",)),
                                         call_id=call_id), i))
    return slots, last_user


def _tool_call(name: str, arguments: object, call_id: str | None,
               context: UserMessage | None) -> Entry:
    try:
        if not isinstance(arguments, str | Mapping):
            raise ContentError(f"tool call {name!r}: arguments must be a JSON object string")
        # ToolCall parses a JSON string itself (its annotation names only the parsed form)
        return ToolCall(name, arguments, id=call_id, context=context)
    except ContentError as exc:
        return Failed("tool_call", ContentError(
            f"the model called tool {name!r} with unusable arguments: {exc}"))


def assistant_entries(text: str, calls: Iterable[tuple[str | None, str, object]],
                      context: UserMessage | None) -> list[Entry]:
    """One answer (text + ``(id, name, arguments)`` calls) as entries."""
    out: list[Entry] = [AssistantMessage(text, context=context)] if text else []
    out += [_tool_call(name, arguments, call_id, context) for call_id, name, arguments in calls]
    return out


def chat_response(completion: Any, context: UserMessage | None) -> list[Entry]:
    """Each choice's content and each of its tool calls."""
    out: list[Entry] = []
    for choice in completion.choices:
        message = choice.message
        text = message.content or ""
        if getattr(message, "audio", None) is not None:
            text = "\n".join(t for t in (text, message.audio.transcript) if t)
        calls: list[tuple[str | None, str, object]] = []
        for call in message.tool_calls or ():
            if call.type == "function":
                calls.append((call.id, call.function.name, call.function.arguments))
            else:  # a custom tool takes free text
                calls.append((call.id, call.custom.name, {"input": call.custom.input}))
        if message.function_call is not None:
            calls.append((None, message.function_call.name, message.function_call.arguments))
        out += assistant_entries(text, calls, context)
    return out


def responses_request(input: object, instructions: object, *, screen_system: bool
                      ) -> tuple[list[Slot], UserMessage | None]:
    """Every caller-side entry of a Responses API request (the whole input, as for chat),
    and the latest user text."""
    slots: list[Slot] = []
    if screen_system and isinstance(instructions, str) and instructions:
        slots.append(Slot(UserMessage(instructions), -1))
    if isinstance(input, str):
        return [*slots, Slot(UserMessage(input), 0)], UserMessage(input)
    if input is not None and not isinstance(input, Iterable):
        raise ContentError(f"input must be a str or a list of items, got {type(input).__name__}")
    items = [as_dict(x, f"input[{i}]") for i, x in enumerate(input or ())]
    names = {str(x.get("call_id")): str(x.get("name")) for x in items if "call_id" in x
             and "name" in x}
    last_user: UserMessage | None = None
    for i, x in enumerate(items):
        role, kind, what = x.get("role"), x.get("type"), f"input[{i}]"
        if role in _SYSTEM_ROLES:
            if screen_system:
                slots.append(Slot(UserMessage(
                    _text(x.get("content"), what, ("input_text", "text"))), i))
        elif role == "user":
            entries = _user(x.get("content"), what)
            last_user = _last_user_text(entries) or last_user
            slots += [Slot(entry, i) for entry in entries]
        elif kind is not None and str(kind).endswith("_output"):
            slots += [Slot(e, i) for e in _tool_output(x, names, what)]
    return slots, last_user


def _tool_output(item: dict[str, Any], names: dict[str, str], what: str) -> list[Entry]:
    call_id = item.get("call_id")
    name = names.get(str(call_id), str(item.get("type")))
    output = item.get("output")
    if output is None or isinstance(output, str):
        text = output or ""
    elif isinstance(output, Mapping):
        if "image_url" in output:  # a computer-use screenshot: judged as the image it is
            rest = {k: v for k, v in output.items() if k not in ("image_url", "type")}
            entries: list[Entry] = [_image(output["image_url"], what)]
            if rest:
                entries.append(ToolResult(name, json.dumps(rest, ensure_ascii=False,
                                                           default=str), call_id=call_id))
            return entries
        text = json.dumps(output, ensure_ascii=False, default=str)
    else:
        parts = [as_dict(p, f"{what} output part") for p in output]
        images = [p for p in parts if p.get("type") == "input_image"]
        text = _text([p for p in parts if p.get("type") != "input_image"], what,
                     ("input_text", "text"))
        return [ToolResult(name, text, call_id=call_id),
                *(_image(p.get("image_url"), what) for p in images)]
    return [ToolResult(name, text, call_id=call_id)]


def responses_response(response: Any, context: UserMessage | None) -> list[Entry]:
    """The output text and every other output item (function, custom, computer, MCP approval
    requests, ...) as entries; only ``reasoning`` items are not screened."""
    texts: list[str] = []
    calls: list[tuple[str | None, str, object]] = []
    for item in response.output:
        kind = item.type
        if kind == "message":
            texts += [c.text if c.type == "output_text" else c.refusal for c in item.content]
        elif kind == "function_call":
            calls.append((item.call_id, item.name, item.arguments))
        elif kind == "custom_tool_call":
            calls.append((item.call_id, item.name, {"input": item.input}))
        elif kind != "reasoning":
            # Anything else asks for an action (computer, shell, MCP calls and approval
            # requests, programs, web search, and kinds newer than this code): screened as a
            # call, so an unknown kind fails closed instead of passing unread.
            fields = item.model_dump(exclude_none=True, exclude={"id", "type", "status"})
            name = getattr(item, "name", None)
            calls.append((getattr(item, "call_id", None),
                          f"{kind}:{name}" if isinstance(name, str) else kind, fields))
    return assistant_entries("".join(texts), calls, context)
