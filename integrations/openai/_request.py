"""A request body -> what to screen before sending. Pure: no I/O, no SDK calls.

Each caller-side entry is converted precisely (user text and images, tool results, legacy
completions' prompts and ``suffix``; system and developer prompts only with
``screen_system=True``), on every call, not only the new turn: something blocked or
withheld earlier must never reach the model later, and the guard's cache answers repeats.
Every other string of the body (assistant turns of the history, tool definitions, content
parts of a type this code does not know, fields an SDK release adds, ``extra_body``) is
screened as text, one item per message and one for the rest
(:func:`guard_core.integrations.openai._body.residual`), so none is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from guard_core.adapters.boundary import joined
from guard_core.content import Image, ToolResult, UserMessage
from guard_core.errors import ContentError

from ._body import residual, walk
from ._convert import Entry, Failed, Slot, as_dict, image

__all__ = ["chat_request", "completions_request", "responses_request"]

_SYSTEM_ROLES = ("system", "developer")
_TEXT = ("text", "input_text")
_IMAGES = ("image_url", "input_image")
# Part types this code knows and cannot screen: refused, never read as text.
_UNREADABLE = ("input_audio", "file", "input_file", "audio")
Context = UserMessage | None
_TOKENS = (
    "prompt is token ids, which the guard cannot read: send the prompt as text (a string or a "
    "list of strings), or use client.unwrapped deliberately and screen the text yourself"
)


class _Reader:
    """The entries found so far and the paths they read (the rest is screened as text)."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        self.read: set[str] = set()

    def parts(
        self, content: object, where: str, what: str
    ) -> tuple[list[str], list[Image], list[Entry]]:
        """(texts, images, failures) of a content field: a str or a list of parts."""
        if content is None or isinstance(content, str):
            self.read.add(where)
            return ([content] if content else []), [], []
        if not isinstance(content, Iterable):
            raise ContentError(
                f"{what} content must be a str or a list of parts, got {type(content).__name__}"
            )
        texts: list[str] = []
        images: list[Image] = []
        failed: list[Entry] = []
        for j, part in enumerate(content):
            at, p = f"{where}[{j}]", as_dict(part, f"{what} part")
            kind = p.get("type")
            if kind in _TEXT and isinstance(p.get("text"), str):
                texts.append(p["text"])
                self.read.add(f"{at}.text")
            elif kind in _IMAGES:
                url = p.get("image_url")
                found = image(url, what)
                if isinstance(found, Failed):
                    failed.append(found)
                else:
                    images.append(found)
                self.read.add(
                    f"{at}.image_url.url" if isinstance(url, Mapping) else f"{at}.image_url"
                )
            elif kind in _UNREADABLE:
                failed.append(
                    Failed(
                        "input",
                        ContentError(
                            f"{what}: cannot screen a {kind!r} part; send text or images, "
                            "or screen it yourself with Guard.check before calling the model"
                        ),
                    )
                )
                self.read.update(f.path for f in _quiet_walk(p, at))
        return texts, images, failed

    def user(self, content: object, where: str, what: str, index: int) -> Context:
        texts, images, failed = self.parts(content, where, what)
        message = UserMessage("\n".join(texts), images=tuple(images))
        self.slots += [Slot(entry, index) for entry in (message, *failed)]
        return UserMessage(message.text)

    def system(self, content: object, where: str, what: str, index: int, screened: bool) -> None:
        texts, images, failed = self.parts(content, where, what)
        entries: list[Entry] = [*images, *failed]  # images are judged even when text is not
        if screened:
            entries.insert(0, UserMessage("\n".join(texts)))
        self.slots += [Slot(entry, index) for entry in entries]

    def tool(
        self, name: str, content: object, where: str, what: str, index: int, call_id: Any
    ) -> None:
        texts, images, failed = self.parts(content, where, what)
        entries = [ToolResult(name, "\n".join(texts), call_id=call_id), *images, *failed]
        self.slots += [Slot(entry, index) for entry in entries]

    def rest(self, value: object, where: str, index: int) -> None:
        """Screen as text every string of ``value`` no conversion read."""
        try:
            found = residual(walk(value, where), consumed=self.read)
        except ContentError as exc:
            self.slots.append(Slot(Failed("input", exc), index))
            return
        if found:
            self.slots.append(Slot(UserMessage(joined(found)), index))


def _quiet_walk(value: object, where: str) -> list[Any]:
    try:
        return walk(value, where)
    except ContentError:
        return []


def _others(reader: _Reader, body: Mapping[str, Any], handled: tuple[str, ...]) -> None:
    reader.rest({k: v for k, v in body.items() if k not in handled}, "", -1)


def chat_request(body: Mapping[str, Any], *, screen_system: bool) -> tuple[list[Slot], Context]:
    """Every entry of a chat request body, and the latest user text (the output's context)."""
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise ContentError(f"messages must be a list, got {type(messages).__name__}")
    dicts = [as_dict(m, f"messages[{i}]") for i, m in enumerate(messages)]
    reader, names, last = _Reader(), {}, None
    for i, m in enumerate(dicts):
        role, where = m.get("role"), f"messages[{i}]"
        what = f"{where} ({role})"
        if role == "assistant":  # its strings are screened as text; its calls name results
            for call in m.get("tool_calls") or ():
                call = as_dict(call, f"{where}.tool_calls")
                function = as_dict(call.get("function") or call.get("custom") or {}, "function")
                names[str(call.get("id"))] = str(function.get("name", "tool"))
        elif role in _SYSTEM_ROLES:
            reader.system(m.get("content"), f"{where}.content", what, i, screen_system)
        elif role == "user":
            last = reader.user(m.get("content"), f"{where}.content", what, i)
        elif role in ("tool", "function"):
            call_id = m.get("tool_call_id")
            name = names.get(str(call_id), m.get("name") or "tool")
            reader.tool(str(name), m.get("content"), f"{where}.content", what, i, call_id)
    for i, m in enumerate(dicts):
        reader.rest(m, f"messages[{i}]", i)
    _others(reader, body, ("messages",))
    return reader.slots, last


def responses_request(
    body: Mapping[str, Any], *, screen_system: bool
) -> tuple[list[Slot], Context]:
    """Every entry of a Responses API request body, and the latest user text."""
    reader, last = _Reader(), None
    instructions, source = body.get("instructions"), body.get("input")
    if isinstance(instructions, str):
        reader.system(instructions, "instructions", "instructions", -1, screen_system)
    if isinstance(source, str):
        last = reader.user(source, "input", "input", 0)
        _others(reader, body, ("input",))
        return reader.slots, last
    if source is not None and not isinstance(source, list):
        raise ContentError(f"input must be a str or a list of items, got {type(source).__name__}")
    items = [as_dict(x, f"input[{i}]") for i, x in enumerate(source or ())]
    names = {
        str(x.get("call_id")): str(x.get("name")) for x in items if "call_id" in x and "name" in x
    }
    for i, x in enumerate(items):
        role, kind, where = x.get("role"), x.get("type"), f"input[{i}]"
        if role in _SYSTEM_ROLES:
            reader.system(x.get("content"), f"{where}.content", where, i, screen_system)
        elif role == "user":
            last = reader.user(x.get("content"), f"{where}.content", where, i) or last
        elif role is None and isinstance(kind, str) and kind.endswith("_output"):
            _tool_output(reader, x, names, where, i)
    for i, x in enumerate(items):
        reader.rest(x, f"input[{i}]", i)
    _others(reader, body, ("input",))
    return reader.slots, last


def completions_request(body: Mapping[str, Any]) -> tuple[list[Slot], list[UserMessage]]:
    """Every entry of a legacy completions request body: each prompt string and ``suffix``
    as user input (a prompt of token ids cannot be read: refused), every other string as
    text; and each prompt (the context of the choices that answer it)."""
    reader, prompt = _Reader(), body.get("prompt")
    texts = [prompt] if isinstance(prompt, str) else prompt
    prompts: list[UserMessage] = []
    if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
        prompts = [UserMessage(t) for t in texts]
        reader.slots += [Slot(p, i) for i, p in enumerate(prompts) if p.text.strip()]
    elif prompt is not None:
        reader.slots.append(Slot(Failed("input", ContentError(_TOKENS)), -1))
    handled = ["prompt"]
    suffix = body.get("suffix")
    if isinstance(suffix, str):
        handled.append("suffix")
        if suffix.strip():
            reader.slots.append(Slot(UserMessage(suffix), -1))
    _others(reader, body, tuple(handled))
    return reader.slots, prompts


def _tool_output(
    reader: _Reader, item: dict[str, Any], names: dict[str, str], where: str, index: int
) -> None:
    call_id = item.get("call_id")
    name = names.get(str(call_id), str(item.get("type")))
    output = item.get("output")
    if isinstance(output, Mapping):  # a computer-use screenshot is judged as the image it is
        reader.read.update(f.path for f in _quiet_walk(output, f"{where}.output"))
        rest = {k: v for k, v in output.items() if k not in ("image_url", "type")}
        entries: list[Entry] = [image(output["image_url"], where)] if "image_url" in output else []
        if rest or not entries:
            entries.append(
                ToolResult(
                    name,
                    json.dumps(rest if entries else output, ensure_ascii=False, default=str),
                    call_id=call_id,
                )
            )
        reader.slots += [Slot(entry, index) for entry in entries]
    else:
        reader.tool(name, output, f"{where}.output", where, index, call_id)
