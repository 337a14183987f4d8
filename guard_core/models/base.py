"""What every guard-model family shares: the request it renders, the answer it parses.

A family turns an :class:`Exchange` (the text in the user slot, the text in the assistant
slot, an optional image) under a :class:`Policy` into a :class:`GuardRequest`, and a
:class:`Completion` back into a :class:`Judgement`. Both steps are pure; backends do the I/O.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias

from guard_core.content import Image
from guard_core.errors import ConfigurationError, ModelOutputError
from guard_core.policy import Mode, Policy
from guard_core.taxonomy import render_taxonomy

__all__ = [
    "Completion",
    "Exchange",
    "GuardRequest",
    "Judgement",
    "ModelFamily",
    "PolicyForm",
    "Slot",
    "VerdictLine",
    "neutralize",
    "policy_form",
    "split_think",
]

Slot: TypeAlias = Literal["prompt", "response"]
Message: TypeAlias = dict[str, Any]
PolicyForm: TypeAlias = Literal["taxonomy", "custom_taxonomy", "custom_policy"]
"""What the model reads besides the turns: its own instructions and taxonomy (perhaps
narrowed or extended), its instructions with the policy's taxonomy, or a custom policy."""


def policy_form(policy: Policy) -> PolicyForm:
    """The form a client-rendered family gives ``policy`` (extras stay in its template)."""
    if policy.custom is not None:
        return "custom_policy"
    return "custom_taxonomy" if policy.categories is not None else "taxonomy"


# A word joiner after "<" keeps a control-token look-alike readable to the model while no
# tokenizer can match it as the special token. Applied to untrusted text only.
_JOINER = "\u2060"
_GEMMA_CONTROL = re.compile(
    r"<(?=(?:bos|eos|pad|unk|mask|start_of_turn|end_of_turn|start_of_image|end_of_image"
    r"|image_soft_token|unused\d+)>)"
)
_LLAMA_CONTROL = re.compile(r"<(?=\|[A-Za-z0-9_]{1,40}\|>)")


def neutralize(text: str, extra: re.Pattern[str] | None = None) -> str:
    """Break control-token and template-delimiter look-alikes in untrusted text.

    Lone surrogates (bytes decoded with ``surrogateescape``, a JSON ``\\udce9`` escape)
    cannot be sent or tokenized; they become U+FFFD and the rest is screened.
    """
    if not text.isascii():
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if "<" in text:
        text = _GEMMA_CONTROL.sub("<" + _JOINER, text)
        text = _LLAMA_CONTROL.sub("<" + _JOINER, text)
    if extra is not None:
        # ``extra`` matches zero-width at the spot where a joiner breaks the delimiter.
        text = extra.sub(_JOINER, text)
    return text


@dataclass(frozen=True, slots=True)
class Exchange:
    """The turns one request classifies. ``assistant`` None means a prompt-only check."""

    user: str
    assistant: str | None = None
    image: Image | None = None

    @property
    def slot(self) -> Slot:
        return "prompt" if self.assistant is None else "response"


@dataclass(frozen=True, slots=True)
class GuardRequest:
    """One call to the guard model, as an OpenAI-style chat request.

    ``prompt`` is the filled template for client-rendered families (the one user message),
    None where the server's chat template renders the safety prompt. ``form`` says which
    instructions the model reads (a model may answer each in its own way); ``codes`` is the
    taxonomy sent, code -> name (None under a custom policy), for reading ``S1``-style
    answers. ``key`` identifies the request for the cache and for coalescing identical
    in-flight calls.
    """

    family: str
    messages: tuple[Message, ...]
    max_tokens: int
    slot: Slot
    mode: Mode
    chat_template_kwargs: Mapping[str, Any] | None = None
    prompt: str | None = None
    image: Image | None = None
    form: PolicyForm = "taxonomy"
    codes: Mapping[str, str] | None = field(default=None, compare=False)
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            blob = (
                self.prompt
                if self.prompt is not None
                else json.dumps(
                    [self.messages, self.chat_template_kwargs], sort_keys=True, default=str
                )
            )
            # The slot is part of the key: a prompt check and a response check can render
            # the same text (CSR-4B writes a missing response as "None") yet ask for
            # different verdicts.
            object.__setattr__(self, "key", f"{self.family}|{self.slot}|{self.max_tokens}|{blob}")


@dataclass(frozen=True, slots=True)
class Completion:
    """What a backend got back for one request."""

    text: str
    finish_reason: str | None = None
    reasoning: str | None = None
    model: str = ""
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """A parsed answer. ``unsafe`` is the verdict for the request's slot only."""

    unsafe: bool
    categories: tuple[str, ...] = ()
    reasoning: str | None = None
    user_unsafe: bool | None = None


def split_think(text: str) -> tuple[str | None, str]:
    """Split a leading ``<think>...</think>`` off; a think block that never closes is an error."""
    stripped = text.lstrip()
    if not stripped.startswith("<think>"):
        if "<think>" in text or "</think>" in text:
            raise ModelOutputError("a <think> block appears after the verdict")
        return None, text
    end = stripped.find("</think>")
    if end < 0:
        raise ModelOutputError("truncated reasoning: <think> never closes (raise max_tokens)")
    reasoning = stripped[len("<think>") : end].strip()
    rest = stripped[end + len("</think>") :]
    if "<think>" in rest or "</think>" in rest:
        raise ModelOutputError("more than one <think> block")
    return reasoning, rest


@dataclass(frozen=True, slots=True)
class VerdictLine:
    """One verdict line of a family's answer, for reading it from two token logits.

    ``key`` is the line's start (``"Prompt harm:"``), followed by a space and ``safe`` or
    ``unsafe``. A local backend appends ``key`` to the prompt and compares the logits of the
    two label continuations instead of generating.
    """

    key: str
    safe: str
    unsafe: str

    def text(self, unsafe: bool) -> str:
        return f"{self.key} {self.unsafe if unsafe else self.safe}"


class ModelFamily(ABC):
    """One guard-model family: render requests for it, parse its answers."""

    name: ClassVar[str]
    modes: ClassVar[frozenset[Mode]]
    categories: ClassVar[dict[str, str]]
    """The model's own taxonomy, code -> name."""
    supports_images: ClassVar[bool] = False
    renders_prompt: ClassVar[bool] = True
    absent_response: ClassVar[str | None] = None
    """What the model writes as the response verdict of a prompt-only check, if anything."""

    def check_policy(self, policy: Policy) -> None:
        """Raise :class:`ConfigurationError` if this family cannot apply ``policy``."""
        if policy.mode not in self.modes:
            raise ConfigurationError(
                f"policy {policy.name!r}: mode {policy.mode!r} is not supported by {self.name} "
                f"(supported: {', '.join(sorted(self.modes))})"
            )

    def taxonomy(self, policy: Policy) -> dict[str, str] | None:
        """Code -> name of the categories the model judges by under ``policy``: its own
        list less the excluded names plus the extra ones (numbered on), or the policy's
        own list; None under a custom policy (its text names what is harmful)."""
        if policy.custom is not None:
            return None
        if policy.categories is not None:
            return {f"S{i}": c.name for i, c in enumerate(policy.categories, 1)}
        kept = {c: n for c, n in self.categories.items() if n not in policy.exclude_categories}
        first = len(self.categories) + 1
        kept.update({f"S{first + i}": name for i, name in enumerate(policy.extra_categories)})
        return kept

    def taxonomy_text(self, policy: Policy) -> str | None:
        """The taxonomy lines the model reads under ``policy`` (None: a custom policy)."""
        if policy.custom is not None:
            return None
        if policy.categories is not None:
            return render_taxonomy(policy.categories)
        return "\n".join(f"{code}: {name}." for code, name in (self.taxonomy(policy) or {}).items())

    @abstractmethod
    def render(self, exchange: Exchange, policy: Policy) -> GuardRequest:
        """The request that asks the model about ``exchange`` under ``policy``."""

    @abstractmethod
    def parse(self, completion: Completion, request: GuardRequest) -> Judgement:
        """Read the verdict for ``request.slot``; raise :class:`ModelOutputError` otherwise."""

    def verdict_lines(self, slot: Slot) -> tuple[VerdictLine, ...]:
        """The lines a reasoning-off answer for ``slot`` starts with, in order, up to and
        including the slot's own verdict; () where the answer cannot be read that way."""
        return ()

    def fast_answer(self, slot: Slot, unsafe: tuple[bool, ...]) -> str:
        """The answer text the model gives when its verdict lines read ``unsafe``."""
        lines = self.verdict_lines(slot)
        if not lines or len(lines) != len(unsafe):
            raise ConfigurationError(f"{self.name} has no single-pass verdict for {slot!r}")
        return "\n".join(line.text(flag) for line, flag in zip(lines, unsafe, strict=True))

    def shared_prefix(self, request: GuardRequest) -> str | None:
        """The start of ``request.prompt`` shared by every request under the same policy
        (intro + policy, up to the untrusted text), or None; a hint for prefix caching."""
        return None

    def raw_prompt(self, request: GuardRequest) -> str:
        """The request as one already-templated string for ``/v1/completions`` (no BOS)."""
        raise ConfigurationError(f"{self.name} has no raw-prompt form")

    @staticmethod
    def check_finish(completion: Completion) -> None:
        if completion.finish_reason == "length":
            raise ModelOutputError(
                "the guard model's answer was cut off (finish_reason=length); "
                "raise max_tokens or use a shorter mode"
            )
        if not completion.text.strip() and not completion.reasoning:
            raise ModelOutputError("the guard model returned an empty answer")
