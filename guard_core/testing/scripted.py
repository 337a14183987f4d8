"""Test fakes for your own tests: a scripted guard model that speaks each family's format.

``ScriptedBackend`` judges in-process; :class:`~guard_core.testing.OpenAICompatServer`
serves the same judge over real HTTP on 127.0.0.1, so the remote backend and the OpenAI SDK
run for real.

>>> from guard_core import Guard
>>> guard = Guard(ScriptedBackend(unsafe_words={"grenade": "Guns and Illegal Weapons"}))
>>> guard.check("where can I buy a grenade").allowed
False
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guard_core.backends.base import Backend, Outcome
from guard_core.models import Completion, GuardRequest, ModelFamily, family_for_model

__all__ = ["ScriptedBackend", "ScriptedJudge"]

_CSR = re.compile(r"\n\nHuman user:\n(.*)\n\nAI assistant:\n(.*)\n\nUse the taxonomy", re.S)
_NEMOGUARD = re.compile(r"<BEGIN CONVERSATION>\n\nuser: (.*)\n\n<END CONVERSATION>", re.S)
_GEMMA_WRAP = re.compile(
    r"^(?:<bos>)?<start_of_turn>user\n(.*)<end_of_turn>\n<start_of_turn>model\n$", re.S
)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or () if isinstance(p, Mapping))


DEFAULT_UNSAFE_WORDS = {"bomb": "Violence", "burn a house": "Criminal Planning/Confessions"}


@dataclass
class ScriptedJudge:
    """Plays a guard model: text containing an unsafe word is unsafe.

    ``unsafe_words`` maps a word (case-insensitive) to its category; a list means
    ``Violence``. An image whose data URL or URL contains an unsafe word is unsafe too.
    """

    unsafe_words: Mapping[str, str] | Iterable[str] = field(
        default_factory=lambda: dict(DEFAULT_UNSAFE_WORDS)
    )

    def __post_init__(self) -> None:
        words = self.unsafe_words
        self._words = dict(words) if isinstance(words, Mapping) else {w: "Violence" for w in words}

    def categories(self, text: str) -> list[str]:
        lowered = text.lower()
        out: list[str] = []
        for word, category in self._words.items():
            if word.lower() in lowered and category not in out:
                out.append(category)
        return out

    def exchange(
        self, family: str, messages: Sequence[Mapping[str, Any]]
    ) -> tuple[str, str | None]:
        """Recover (user text, assistant text or None) from a rendered request."""
        if family == "nemotron35":
            user = messages[0]["content"]
            text = _text_of(user)
            if not isinstance(user, str):
                text += " " + " ".join(
                    p["image_url"]["url"] for p in user if p.get("type") == "image_url"
                )
            return text, (_text_of(messages[1]["content"]) if len(messages) > 1 else None)
        prompt = _text_of(messages[0]["content"])
        if family == "csr4b":
            match = _CSR.search(prompt)
            if match is None:
                raise ValueError("not a CSR-4B prompt")
            user, assistant = match.group(1), match.group(2)
            return user, (None if assistant == "None" else assistant)
        match = _NEMOGUARD.search(prompt)
        if match is None:
            raise ValueError("not a NemoGuard prompt")
        user, _, assistant = match.group(1).partition("\n\nresponse: agent: ")
        return user, (assistant if _ else None)

    def answer(
        self,
        family: str,
        messages: Sequence[Mapping[str, Any]],
        kwargs: Mapping[str, Any] | None = None,
    ) -> tuple[str, str | None]:
        """The (content, reasoning) the real model would send, in its exact format."""
        kwargs = kwargs or {}
        user, assistant = self.exchange(family, messages)
        user_cats, resp_cats = self.categories(user), self.categories(assistant or "")
        cats = user_cats + [c for c in resp_cats if c not in user_cats]
        think = None
        if family == "csr4b":
            response = "None" if assistant is None else "harmful" if resp_cats else "unharmful"
            text = (
                f"Prompt harm: {'harmful' if user_cats else 'unharmful'}\nResponse harm: {response}"
            )
            if "/think" in _text_of(messages[0]["content"])[-12:]:
                trace = f"The request mentions {cats or 'nothing unsafe'}."
                text = f"<think>\n{trace}\n</think>\n\n{text}"
            return text, None
        if family == "nemoguard8b":
            data = {"User Safety": "unsafe" if user_cats else "safe"}
            if assistant is not None:
                data["Response Safety"] = "unsafe" if resp_cats else "safe"
            if cats:
                data["Safety Categories"] = ", ".join(cats)
            return json.dumps(data), None
        lines = [f"User Safety: {'unsafe' if user_cats else 'safe'}"]
        if assistant is not None:
            lines.append(f"Response Safety: {'unsafe' if resp_cats else 'safe'}")
        if cats and kwargs.get("request_categories") == "/categories":
            lines.append(f"Safety Categories: {', '.join(cats)}")
        if kwargs.get("enable_thinking"):
            think = f"Checked the turns against the policy; found {cats or 'nothing unsafe'}."
        return "\n".join(lines), think

    def answer_raw_prompt(self, prompt: str) -> str:
        """Answer a CSR-4B prompt sent pre-templated to ``/v1/completions``."""
        match = _GEMMA_WRAP.match(prompt)
        if match is None:
            raise ValueError("raw prompt is not wrapped in the Gemma chat template")
        return self.answer("csr4b", [{"role": "user", "content": match.group(1)}])[0]


class ScriptedBackend(Backend):
    """An in-process backend answering with a :class:`ScriptedJudge`; records every request."""

    def __init__(
        self,
        unsafe_words: Mapping[str, str] | Iterable[str] | None = None,
        *,
        model: str = "nvidia/nemotron-3.5-content-safety",
        family: str | ModelFamily | None = None,
    ) -> None:
        self.judge = ScriptedJudge(unsafe_words) if unsafe_words is not None else ScriptedJudge()
        self.model = model
        self.family = family_for_model(model, family)
        self.requests: list[GuardRequest] = []
        self._lock = threading.Lock()

    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        with self._lock:
            self.requests.extend(requests)
        out: list[Outcome] = []
        for r in requests:
            text, reasoning = self.judge.answer(r.family, r.messages, r.chat_template_kwargs)
            out.append(
                Completion(text=text, finish_reason="stop", reasoning=reasoning, model=self.model)
            )
        return out

    async def aclassify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        return self.classify(requests)
