"""Nemotron Content Safety Reasoning 4B: the client renders the whole safety prompt.

The filled ``csr4b_template.txt`` is sent as ONE user message ending in ``/think`` or
``/no_think``. A policy's own categories take the taxonomy's place under the template's
instructions; a custom policy replaces the introduction and the taxonomy. The answer is
``Prompt harm: harmful|unharmful`` and ``Response harm: harmful|unharmful|None`` (any case:
the model card writes ``Response Harm``), optionally after a ``<think>`` block.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import ClassVar

from guard_core.errors import ConfigurationError, ModelOutputError
from guard_core.models.answers import read_verdict
from guard_core.models.base import (
    Completion,
    Exchange,
    GuardRequest,
    Judgement,
    ModelFamily,
    Slot,
    VerdictLine,
    neutralize,
    policy_form,
    split_think,
)
from guard_core.policy import Mode, Policy
from guard_core.taxonomy import CSR4B_CATEGORIES

__all__ = ["TEMPLATE", "ContentSafetyReasoning4B"]

TEMPLATE = files("guard_core.models").joinpath("templates/csr4b_template.txt").read_text("utf-8")
_CONVERSATION = "\n\nHuman user:\n"
_HEAD, _SEP, _TAIL = TEMPLATE.partition(_CONVERSATION)
assert _SEP, "csr4b template lost its 'Human user:' block"
_PLACEHOLDER = re.compile(r"\{(user_input|assistant_response_or_None|mode)\}")
# Any case, any indentation: a model may read "  human user :" as the template's own.
_ROLE_MARKER = re.compile(r"(?mi)^(?=[ \t]*(?:Human user|AI assistant)[ \t]*:)")
_LINE = re.compile(r"^(prompt|response)[ \t]+harm[ \t]*:[ \t]*([A-Za-z]+)(.*)$", re.IGNORECASE)
_LEGAL = {"prompt": ("harmful", "unharmful"), "response": ("harmful", "unharmful", "none")}
_PROMPT_LINE = VerdictLine("Prompt harm:", "unharmful", "harmful")
_RESPONSE_LINE = VerdictLine("Response harm:", "unharmful", "harmful")
# The taxonomy is the last block of the head: the intro, then "S1: ..." to "S22: ...".
_INTRO, _, _ = _HEAD.partition("\nS1: ")
_INTRO += "\n"
assert _INTRO + "\n".join(f"{c}: {n}." for c, n in CSR4B_CATEGORIES.items()) == _HEAD


def _head(family: ModelFamily, policy: Policy) -> str:
    if policy.custom is not None:
        return policy.custom.render()
    return _INTRO + (family.taxonomy_text(policy) or "")


class ContentSafetyReasoning4B(ModelFamily):
    """``nvidia/Nemotron-Content-Safety-Reasoning-4B``: fast (``/no_think``) and think modes."""

    name: ClassVar[str] = "csr4b"
    modes: ClassVar[frozenset[Mode]] = frozenset({"fast", "think"})
    categories: ClassVar[dict[str, str]] = CSR4B_CATEGORIES
    absent_response: ClassVar[str | None] = "None"
    max_tokens: ClassVar[dict[str, int]] = {"fast": 32, "think": 512}

    def check_policy(self, policy: Policy) -> None:
        if policy.mode == "categories":
            raise ConfigurationError(
                f"policy {policy.name!r}: Content Safety Reasoning 4B does not report categories; "
                "use mode 'fast' or 'think', or a model that does "
                "(nvidia/nemotron-3.5-content-safety, nvidia/llama-3.1-nemoguard-8b-content-safety)"
            )
        super().check_policy(policy)

    def render(self, exchange: Exchange, policy: Policy) -> GuardRequest:
        if exchange.image is not None:
            raise ConfigurationError(
                "Content Safety Reasoning 4B reads text only; screen images with "
                "nvidia/nemotron-3.5-content-safety or take 'image' out of the policy's surfaces"
            )
        values = {
            "user_input": neutralize(exchange.user, _ROLE_MARKER),
            "assistant_response_or_None": "None"
            if exchange.assistant is None
            else neutralize(exchange.assistant, _ROLE_MARKER),
            "mode": "/think" if policy.mode == "think" else "/no_think",
        }
        # Placeholders are filled in the conversation part only: a custom policy's text is
        # trusted verbatim, even where it happens to contain "{user_input}".
        prompt = _head(self, policy) + _PLACEHOLDER.sub(
            lambda m: values[m.group(1)], _CONVERSATION + _TAIL
        )
        return GuardRequest(
            family=self.name,
            messages=({"role": "user", "content": prompt},),
            max_tokens=self.max_tokens[policy.mode],
            slot=exchange.slot,
            mode=policy.mode,
            prompt=prompt,
            form=policy_form(policy),
            codes=self.taxonomy(policy),
        )

    def verdict_lines(self, slot: Slot) -> tuple[VerdictLine, ...]:
        return (_PROMPT_LINE,) if slot == "prompt" else (_PROMPT_LINE, _RESPONSE_LINE)

    def fast_answer(self, slot: Slot, unsafe: tuple[bool, ...]) -> str:
        answer = super().fast_answer(slot, unsafe)
        return answer + f"\nResponse harm: {self.absent_response}" if slot == "prompt" else answer

    def shared_prefix(self, request: GuardRequest) -> str | None:
        # The last "Human user:" block is the conversation: untrusted text cannot write one
        # (role markers in it are neutralized), a custom policy before it might.
        head, sep, _ = (request.prompt or "").rpartition(_CONVERSATION)
        return head + sep if sep else None

    def raw_prompt(self, request: GuardRequest) -> str:
        assert request.prompt is not None
        return f"<start_of_turn>user\n{request.prompt}<end_of_turn>\n<start_of_turn>model\n"

    def parse(self, completion: Completion, request: GuardRequest) -> Judgement:
        self.check_finish(completion)
        inline_reasoning, rest = split_think(completion.text)
        found: dict[str, str] = {}
        for raw in rest.splitlines():
            line = raw.strip()
            if not line:
                continue
            verdict = read_verdict(line, _LINE, _LEGAL, "harm")
            if verdict is None:
                raise ModelOutputError(f"unexpected line in the guard's answer: {line[:80]!r}")
            key, value = verdict
            if key in found:
                raise ModelOutputError(f"two '{key} harm' lines in the guard's answer")
            found[key] = value
        if "prompt" not in found:
            raise ModelOutputError("the guard's answer has no 'Prompt harm' line")
        user_unsafe = found["prompt"] == "harmful"
        if request.slot == "response":
            response = found.get("response")
            if response not in ("harmful", "unharmful"):
                raise ModelOutputError(
                    "the guard gave no 'Response harm' verdict for a response check"
                )
            unsafe = response == "harmful"
        else:
            unsafe = user_unsafe
        return Judgement(
            unsafe=unsafe,
            reasoning=completion.reasoning or inline_reasoning,
            user_unsafe=user_unsafe,
        )
