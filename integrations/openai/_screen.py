"""One guarded SDK call: what to screen, what the verdicts mean, what to send or return.

Everything here is pure except :meth:`Call.check` / :meth:`Call.acheck`, the only place
the guard is asked (``check_many`` on the sync client, ``acheck_many`` on the async one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from openai import NotGiven, Omit

from guard_core.audit import audit_record
from guard_core.content import Item, ToolResult
from guard_core.errors import ConfigurationError, ContentError, GuardViolation
from guard_core.guard import Guard
from guard_core.verdict import PolicyRef, Verdict

from . import _convert, _refusal

__all__ = ["AGENT_KEY", "Call", "Options", "given"]

AGENT_KEY = "guard_agent"
Api = Literal["chat", "responses"]
OnVerdict = Callable[[Item | None, Verdict], None]


def given(kwargs: dict[str, Any], key: str) -> Any:
    """``kwargs[key]`` unless absent or the SDK's omit / not-given sentinel."""
    value = kwargs.get(key)
    return None if isinstance(value, Omit | NotGiven) else value


@dataclass(frozen=True, slots=True)
class Options:
    """How a wrapped client screens (see :func:`guard_openai`)."""

    agent: str | None = None
    on_block: Literal["raise", "refuse"] = "raise"
    screen_system: bool = False
    stream_mode: Literal["buffer", "incremental"] = "buffer"
    screen_every: int = 400
    screen_context: int | None = None
    refusal: _refusal.RefusalText = _refusal.default_refusal
    on_verdict: OnVerdict | None = None

    def __post_init__(self) -> None:
        if self.on_block not in ("raise", "refuse"):
            raise ConfigurationError(f"on_block must be 'raise' or 'refuse', got {self.on_block!r}")
        if self.stream_mode not in ("buffer", "incremental"):
            raise ConfigurationError(
                f"stream_mode must be 'buffer' or 'incremental', got {self.stream_mode!r}")
        if not isinstance(self.screen_every, int) or self.screen_every < 1:
            raise ConfigurationError(f"screen_every must be a positive int of characters, "
                                     f"got {self.screen_every!r}")
        if self.screen_context is not None and (
                not isinstance(self.screen_context, int) or self.screen_context < 0):
            raise ConfigurationError(f"screen_context must be a non-negative int of characters "
                                     f"or None, got {self.screen_context!r}")


class Call:
    """One ``create`` / ``parse`` call under screening (request side, then response side)."""

    def __init__(self, guard: Guard, options: Options, api: Api, kwargs: dict[str, Any],
                 *, parsed: bool = False) -> None:
        self.guard, self.options, self.api, self.parsed = guard, options, api, parsed
        kwargs = dict(kwargs)
        extra = given(kwargs, "extra_body")
        self.agent = options.agent
        if isinstance(extra, Mapping) and AGENT_KEY in extra:
            extra = dict(extra)
            agent = extra.pop(AGENT_KEY)
            if agent is not None and not isinstance(agent, str):
                raise ConfigurationError(f"extra_body[{AGENT_KEY!r}] must be an agent name "
                                         f"(str), got {type(agent).__name__}")
            self.agent = agent or self.agent
            kwargs["extra_body"] = extra or None  # the option never reaches the server
        self.policy = guard.policy_for(self.agent)
        self.model = str(given(kwargs, "model") or "")
        self.stream = bool(given(kwargs, "stream"))
        screen_system = options.screen_system
        if api == "chat":
            messages = given(kwargs, "messages")
            if messages is not None:  # materialised once: a generator is read here
                kwargs["messages"] = messages = list(messages)
            slots, self.context = _convert.chat_request(messages or [],
                                                        screen_system=screen_system)
        else:
            previous = given(kwargs, "previous_response_id")
            if isinstance(previous, str) and previous.startswith(_refusal.REFUSAL_RESPONSE_PREFIX):
                raise ContentError(
                    f"previous_response_id={previous!r} is a refusal made by the guard, not a "
                    "stored response: continue from the response before it, or send the "
                    "conversation as input")
            source = given(kwargs, "input")
            if isinstance(source, Iterable) and not isinstance(source, str):
                kwargs["input"] = source = list(source)
            slots, self.context = _convert.responses_request(
                source, given(kwargs, "instructions"), screen_system=screen_system)
        self.kwargs = kwargs
        self._slots: list[_convert.Slot] = []
        for slot in slots:
            if not isinstance(slot.entry, _convert.Failed):
                self._slots.append(slot)
            elif self.policy.screens(slot.entry.surface):
                raise slot.entry.error  # a caller's bad input: nothing was sent

    # -- request side -----------------------------------------------------------------------

    def request_entries(self) -> list[_convert.Entry]:
        return [slot.entry for slot in self._slots]

    def settle_request(self, verdicts: Sequence[Verdict]) -> Verdict | None:
        """Apply request verdicts: flag passes, a redacted/dropped tool result is replaced by
        a notice (the loop goes on), anything else blocks (raises, or returned to refuse)."""
        blocking = None
        for slot, verdict in zip(self._slots, verdicts, strict=True):
            self._report(slot.entry, verdict)
            if verdict.allowed or verdict.decision == "flag":
                continue
            if isinstance(slot.entry, ToolResult) and verdict.decision in ("redact", "drop"):
                self._withhold(slot.index, verdict)
            elif blocking is None:
                blocking = verdict
        return self._block(blocking)

    def _withhold(self, index: int, verdict: Verdict) -> None:
        notice = f"[tool result withheld by the content-safety guard: {verdict.reason}]"
        key, field = ("messages", "content") if self.api == "chat" else ("input", "output")
        items = list(self.kwargs[key])
        items[index] = {**_convert.as_dict(items[index], key), field: notice}
        self.kwargs[key] = items

    # -- response side ----------------------------------------------------------------------

    def response_entries(self, result: Any) -> list[_convert.Entry]:
        if self.api == "chat":
            entries = _convert.chat_response(result, self.context)
        else:
            entries = _convert.responses_response(result, self.context)
        return self.keep(entries)

    def keep(self, entries: list[_convert.Entry]) -> list[_convert.Entry]:
        """Drop conversion failures on surfaces the policy does not screen."""
        return [e for e in entries
                if not isinstance(e, _convert.Failed) or self.policy.screens(e.surface)]

    def settle(self, entries: Sequence[_convert.Entry], verdicts: Sequence[Verdict]
               ) -> Verdict | None:
        """Merge failures (fail closed) with verdicts; raise or return the blocking one."""
        checked = iter(verdicts)
        blocking = None
        for entry in entries:
            verdict = self._failed(entry) if isinstance(entry, _convert.Failed) else next(checked)
            self._report(entry, verdict)
            if blocking is None and not verdict.allowed and verdict.decision != "flag":
                blocking = verdict
        return self._block(blocking)

    def check(self, entries: Sequence[_convert.Entry]) -> list[Verdict]:
        items = [e for e in entries if not isinstance(e, _convert.Failed)]
        return self.guard.check_many(items, agent=self.agent) if items else []

    async def acheck(self, entries: Sequence[_convert.Entry]) -> list[Verdict]:
        items = [e for e in entries if not isinstance(e, _convert.Failed)]
        return await self.guard.acheck_many(items, agent=self.agent) if items else []

    def _failed(self, entry: _convert.Failed) -> Verdict:
        policy = self.policy
        verdict = Verdict(allowed=False, surface=entry.surface,
                          policy=PolicyRef(policy.name, policy.version),
                          error=f"ContentError: {entry.error}",
                          action=policy.action_for(entry.surface), agent=self.agent)
        if self.guard.audit is not None:
            digest = hashlib.sha256(str(entry.error).encode()).hexdigest()
            self.guard.audit.write(audit_record(verdict, digest))
        return verdict

    def _report(self, entry: _convert.Entry, verdict: Verdict) -> None:
        if self.options.on_verdict is not None:
            self.options.on_verdict(None if isinstance(entry, _convert.Failed) else entry, verdict)

    def _block(self, verdict: Verdict | None) -> Verdict | None:
        if verdict is not None and self.options.on_block == "raise":
            raise GuardViolation(verdict)
        return verdict

    # -- refusals ---------------------------------------------------------------------------

    def refusal_text(self, verdict: Verdict) -> str:
        text = self.options.refusal
        return text if isinstance(text, str) else text(verdict)

    def refusal(self, verdict: Verdict, like: Any = None) -> Any:
        """The refusal of this call's type (``like``: the blocked answer, if any)."""
        text = self.refusal_text(verdict)
        if self.api == "chat":
            return _refusal.chat_completion(text, model=self.model, like=like,
                                            choices=len(like.choices) if like is not None
                                            else int(given(self.kwargs, "n") or 1),
                                            parsed=self.parsed)
        return _refusal.response(text, model=self.model, like=like, parsed=self.parsed)
