"""Llama 3.1 NemoGuard 8B content safety (Aegis 2.0, S1-S23): client-rendered, JSON answer.

The filled ``nemoguard8b_template.txt`` goes as one user message; an output check extends
the conversation block to ``user: ...\\n\\nresponse: agent: ...``. A policy's own categories,
or a custom policy's text, fill the category block. The answer is one JSON
object with ``User Safety``, ``Response Safety`` and ``Safety Categories`` (some
deployments say ``Violated Categories``).
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import Any, ClassVar

from guard_core.errors import ConfigurationError, ModelOutputError
from guard_core.models.base import (
    Completion,
    Exchange,
    GuardRequest,
    Judgement,
    ModelFamily,
    neutralize,
    policy_form,
)
from guard_core.policy import Mode, Policy
from guard_core.taxonomy import NEMOGUARD_CATEGORIES, normalize_categories

__all__ = ["TEMPLATE", "TEMPLATE_DELIMITERS", "NemoGuard8B"]

TEMPLATE = (
    files("guard_core.models").joinpath("templates/nemoguard8b_template.txt").read_text("utf-8")
)
_BEGIN, _END = "<BEGIN UNSAFE CONTENT CATEGORIES>\n", "\n<END UNSAFE CONTENT CATEGORIES>"
_PRE, _, _after = TEMPLATE.partition(_BEGIN)
_CATEGORY_BLOCK, _, _POST = _after.partition(_END)
assert _POST, "nemoguard template lost its category block"
assert "\n".join(f"{c}: {n}." for c, n in NEMOGUARD_CATEGORIES.items()) == _CATEGORY_BLOCK
_PLACEHOLDER = re.compile(r"\{user_input\}")
TEMPLATE_DELIMITERS = _DELIMITERS = re.compile(
    r"(?<=<)(?=(?:BEGIN|END) (?:CONVERSATION|UNSAFE CONTENT CATEGORIES)>)"
    r"|^(?=[ \t]*(?:user|response|agent)[ \t]*:)",
    re.IGNORECASE | re.MULTILINE,
)
_KEYS = {"User Safety", "Response Safety", "Safety Categories", "Violated Categories"}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ModelOutputError(f"the guard's JSON repeats the key {key!r}")
        out[key] = value
    return out


class NemoGuard8B(ModelFamily):
    """``nvidia/llama-3.1-nemoguard-8b-content-safety``: fast and categories (same request)."""

    name: ClassVar[str] = "nemoguard8b"
    modes: ClassVar[frozenset[Mode]] = frozenset({"fast", "categories"})
    categories: ClassVar[dict[str, str]] = NEMOGUARD_CATEGORIES
    max_tokens: ClassVar[int] = 96

    def render(self, exchange: Exchange, policy: Policy) -> GuardRequest:
        if exchange.image is not None:
            raise ConfigurationError(
                "NemoGuard 8B reads text only; screen images with "
                "nvidia/nemotron-3.5-content-safety or take 'image' out of the policy's surfaces"
            )
        conversation = neutralize(exchange.user, _DELIMITERS)
        if exchange.assistant is not None:
            conversation += "\n\nresponse: agent: " + neutralize(exchange.assistant, _DELIMITERS)
        block = policy.custom.render() if policy.custom else self.taxonomy_text(policy) or ""
        # Only the conversation part holds the placeholder; policy text is kept verbatim.
        prompt = _PRE + _BEGIN + block + _END + _PLACEHOLDER.sub(lambda _: conversation, _POST)
        return GuardRequest(
            family=self.name,
            messages=({"role": "user", "content": prompt},),
            max_tokens=self.max_tokens,
            slot=exchange.slot,
            mode=policy.mode,
            prompt=prompt,
            form=policy_form(policy),
            codes=self.taxonomy(policy),
        )

    def parse(self, completion: Completion, request: GuardRequest) -> Judgement:
        self.check_finish(completion)
        text = completion.text.strip()
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise ModelOutputError(f"the guard's answer is not one JSON object: {exc}") from None
        if not isinstance(data, dict):
            raise ModelOutputError("the guard's answer is JSON but not an object")
        unknown = set(data) - _KEYS
        if unknown:
            raise ModelOutputError(f"unexpected key in the guard's JSON: {sorted(unknown)[0]!r}")
        if "Safety Categories" in data and "Violated Categories" in data:
            raise ModelOutputError("the guard's JSON has both category keys")
        verdicts = {}
        for key in ("User Safety", "Response Safety"):
            if key in data:
                value = data[key]
                if not isinstance(value, str) or value.strip().lower() not in ("safe", "unsafe"):
                    raise ModelOutputError(f"illegal value for {key!r}: {value!r}")
                verdicts[key] = value.strip().lower() == "unsafe"
        wanted = "User Safety" if request.slot == "prompt" else "Response Safety"
        if wanted not in verdicts:
            raise ModelOutputError(f"the guard's JSON has no {wanted!r}")
        raw = data.get("Safety Categories", data.get("Violated Categories", ""))
        if isinstance(raw, list):
            raw = ", ".join(str(part) for part in raw)
        if not isinstance(raw, str):
            raise ModelOutputError(f"illegal categories value: {raw!r}")
        unsafe = verdicts[wanted]
        categories = normalize_categories(raw, request.codes) if unsafe else ()
        return Judgement(
            unsafe=unsafe, categories=categories, user_unsafe=verdicts.get("User Safety")
        )
