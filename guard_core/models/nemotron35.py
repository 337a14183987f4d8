"""Nemotron 3.5 Content Safety (text + image): the server's chat template renders the prompt.

The client sends only the turns to classify (user [+ one image] [, assistant]) and the
controls in ``chat_template_kwargs``: ``request_categories``, ``enable_thinking``, and either
``custom_taxonomy`` (a category list under the standard instructions: a policy's own
``categories``, or the 24 standard ones with ``extra_categories``) or ``custom_policy`` (free
text replacing instructions and taxonomy; sent without ``request_categories``, which the
NVIDIA endpoint refuses beside it). The answer is plain lines: ``User Safety: safe|unsafe``,
``Response Safety: ...``, ``Safety Categories: a, b``; reasoning arrives in
``reasoning_content`` or inline as ``<think>``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from guard_core.errors import ModelOutputError
from guard_core.models.answers import read_verdict
from guard_core.models.base import (
    Completion,
    Exchange,
    GuardRequest,
    Judgement,
    ModelFamily,
    PolicyForm,
    Slot,
    VerdictLine,
    neutralize,
    split_think,
)
from guard_core.models.nemoguard8b import TEMPLATE_DELIMITERS
from guard_core.policy import Mode, Policy
from guard_core.taxonomy import NEMOTRON35_CATEGORIES, normalize_categories

__all__ = ["Nemotron35ContentSafety"]

_SAFETY = re.compile(r"^(user|response)[ \t]+safety[ \t]*:[ \t]*([A-Za-z]+)(.*)$", re.IGNORECASE)
_LEGAL = {"user": ("safe", "unsafe"), "response": ("safe", "unsafe")}
_CATEGORIES = re.compile(r"^safety[ \t]+categories[ \t]*:[ \t]*(.*)$", re.IGNORECASE)
_USER_LINE = VerdictLine("User Safety:", "safe", "unsafe")
_RESPONSE_LINE = VerdictLine("Response Safety:", "safe", "unsafe")


class Nemotron35ContentSafety(ModelFamily):
    """``nvidia/Nemotron-3.5-Content-Safety``: all three modes, one image per request."""

    name: ClassVar[str] = "nemotron35"
    modes: ClassVar[frozenset[Mode]] = frozenset({"fast", "categories", "think"})
    supports_images: ClassVar[bool] = True
    renders_prompt: ClassVar[bool] = False
    categories: ClassVar[dict[str, str]] = NEMOTRON35_CATEGORIES
    max_tokens: ClassVar[dict[str, int]] = {"fast": 32, "categories": 96, "think": 768}

    @staticmethod
    def form(policy: Policy) -> PolicyForm:
        """``custom_policy``, ``custom_taxonomy`` (own categories, or extra ones: the list
        is then sent whole) or ``taxonomy`` (the template's own, exclusions applied after)."""
        if policy.custom is not None:
            return "custom_policy"
        if policy.categories is not None or policy.extra_categories:
            return "custom_taxonomy"
        return "taxonomy"

    def template_kwargs(self, policy: Policy) -> dict[str, Any]:
        """The ``chat_template_kwargs`` for ``policy`` (also ``apply_chat_template`` kwargs)."""
        kwargs: dict[str, Any] = {"enable_thinking": policy.mode == "think"}
        form = self.form(policy)
        if form == "custom_policy":
            assert policy.custom is not None
            # The NVIDIA endpoint rejects custom_policy together with request_categories.
            kwargs["custom_policy"] = policy.custom.render()
            return kwargs
        if form == "custom_taxonomy":
            kwargs["custom_taxonomy"] = self.taxonomy_text(policy)
        # Exclusions are applied to the answer's categories, so they must be asked for.
        wants = policy.mode != "fast" or bool(policy.exclude_categories)
        kwargs["request_categories"] = "/categories" if wants else "/no_categories"
        return kwargs

    def render(self, exchange: Exchange, policy: Policy) -> GuardRequest:
        # The server's template wraps the turns in NemoGuard-style delimiters: break look-alikes.
        user_text = neutralize(exchange.user, TEMPLATE_DELIMITERS)
        content: str | list[dict[str, Any]] = user_text
        if exchange.image is not None:
            parts: list[dict[str, Any]] = [
                {"type": "image_url", "image_url": {"url": exchange.image.to_url()}}
            ]
            if user_text:
                parts.append({"type": "text", "text": user_text})
            content = parts
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        if exchange.assistant is not None:
            assistant = neutralize(exchange.assistant, TEMPLATE_DELIMITERS)
            messages.append({"role": "assistant", "content": assistant})
        mode = policy.mode
        max_tokens = self.max_tokens[
            "categories" if policy.exclude_categories and mode == "fast" else mode
        ]
        return GuardRequest(
            family=self.name,
            messages=tuple(messages),
            max_tokens=max_tokens,
            slot=exchange.slot,
            mode=mode,
            chat_template_kwargs=self.template_kwargs(policy),
            image=exchange.image,
            form=self.form(policy),
            codes=self.taxonomy(policy),
        )

    def verdict_lines(self, slot: Slot) -> tuple[VerdictLine, ...]:
        return (_USER_LINE,) if slot == "prompt" else (_USER_LINE, _RESPONSE_LINE)

    def parse(self, completion: Completion, request: GuardRequest) -> Judgement:
        self.check_finish(completion)
        inline_reasoning, rest = split_think(completion.text)
        found: dict[str, bool] = {}
        categories: tuple[str, ...] | None = None
        for raw in rest.splitlines():
            line = raw.strip()
            if not line:
                continue
            if (verdict := read_verdict(line, _SAFETY, _LEGAL, "safety")) is not None:
                key, value = verdict
                if key in found:
                    raise ModelOutputError(f"two '{key} safety' lines in the guard's answer")
                found[key] = value == "unsafe"
            elif (cat := _CATEGORIES.match(line)) is not None:
                if categories is not None:
                    raise ModelOutputError("two 'Safety Categories' lines in the guard's answer")
                categories = normalize_categories(cat.group(1), request.codes)
            else:
                raise ModelOutputError(f"unexpected line in the guard's answer: {line[:80]!r}")
        key = "user" if request.slot == "prompt" else "response"
        if key not in found:
            raise ModelOutputError(f"the guard's answer has no '{key.title()} Safety' line")
        unsafe = found[key]
        return Judgement(
            unsafe=unsafe,
            categories=(categories or ()) if unsafe else (),
            reasoning=completion.reasoning or inline_reasoning,
            user_unsafe=found.get("user"),
        )
