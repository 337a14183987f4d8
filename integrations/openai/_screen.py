"""One guarded SDK call: what to screen, what the verdicts mean, what to send or return.

Everything here is pure except :meth:`Call.check` / :meth:`Call.acheck`, the only place
the guard is asked (``check_many`` on the sync client, ``acheck_many`` on the async one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, TypedDict

from guard_core.adapters.boundary import AGENT_KEY, agent_choice, joined
from guard_core.adapters.decisions import Refusal, default_refusal, refusal_text
from guard_core.adapters.options import OnBlock, Streaming
from guard_core.audit import audit_record
from guard_core.content import AssistantMessage, Item, ToolResult, UserMessage
from guard_core.errors import ContentError, GuardViolation
from guard_core.guard import Guard
from guard_core.verdict import PolicyRef, Verdict

from . import _body, _convert, _legacy, _refusal, _request
from ._body import given
from ._state import Tainted, refuse_stored

__all__ = ["AGENT_KEY", "Api", "Call", "GuardSettings", "OnVerdict", "Options", "given"]

Api = Literal["chat", "responses", "completions"]
UNREADABLE = ContentError(
    "the answer carries a field the guard cannot read (nested too deep); it is withheld"
)  # never quotes the answer: callers read it
OnVerdict = Callable[[Item | None, Verdict], None]


class GuardSettings(TypedDict, total=False):
    """:func:`guard_openai`'s settings by name: what the helpers that guard a framework's
    clients (``guard_chat_openai``, ``guard_openai_llm``) take and pass on unchanged."""

    agent: str | None
    on_block: OnBlock
    screen_system: bool
    streaming: Streaming
    stream_chars: int
    stream_context: int | None
    refusal: Refusal
    on_verdict: OnVerdict | None
    allow_agent_override: bool


@dataclass(frozen=True, slots=True)
class Options:
    """How a wrapped client screens (see :func:`guard_openai`); checked there, with the
    kit's :mod:`guard_core.adapters.options`."""

    agent: str | None = None
    on_block: OnBlock = "raise"
    screen_system: bool = False
    streaming: Streaming = "buffer"
    stream_chars: int = 400
    stream_context: int = 1000
    refusal: Refusal = default_refusal
    on_verdict: OnVerdict | None = None
    allow_agent_override: bool = False


class Call:
    """One ``create`` / ``parse`` call under screening (request side, then response side)."""

    def __init__(
        self,
        guard: Guard,
        options: Options,
        api: Api,
        kwargs: dict[str, Any],
        *,
        parsed: bool = False,
        tainted: Tainted | None = None,
    ) -> None:
        self.guard, self.options, self.api, self.parsed = guard, options, api, parsed
        self.tainted = tainted if tainted is not None else Tainted()
        kwargs, requested = _body.split_agent(dict(kwargs))
        self.agent = agent_choice(
            options.agent,
            requested,
            allow_override=options.allow_agent_override,
            owner="guard_openai",
        )
        self.policy = guard.policy_for(self.agent)
        self.kwargs = kwargs = _body.normalise(kwargs, api)
        body = _body.request_body(kwargs)  # what the SDK sends: screened, never the kwargs
        self.model = str(given(body, "model") or "")
        self.stream = bool(given(kwargs, "stream"))
        self.conversation: str | None = None
        self.prompts: list[UserMessage] = []  # legacy completions: each choice's context
        if api == "chat":
            slots, self.context = _request.chat_request(body, screen_system=options.screen_system)
        elif api == "responses":
            self.conversation = refuse_stored(
                body, self.tainted, screen_system=options.screen_system
            )
            slots, self.context = _request.responses_request(
                body, screen_system=options.screen_system
            )
        else:
            slots, self.prompts = _request.completions_request(body)
            self.context = self.prompts[-1] if self.prompts else None
        self.answer_ids: set[str] = set()  # where the server stores this call's answer
        self._slots: list[_convert.Slot] = []
        for slot in slots:
            if not isinstance(slot.entry, _convert.Failed):
                self._slots.append(slot)
            elif self.policy.screens(slot.entry.surface):
                raise slot.entry.error  # a caller's bad input: nothing was sent

    @property
    def n(self) -> int:
        """How many answers the call asks for (per prompt, for legacy completions)."""
        n = given(self.kwargs, "n")
        return n if isinstance(n, int) and n > 0 else 1

    @cached_property
    def sent(self) -> frozenset[str]:
        """Every string of the request as sent: an answer repeating one tells the caller
        nothing new (the Responses API echoes instructions, tools, metadata)."""
        try:
            found = _body.walk(_body.request_body(self.kwargs), "")
        except ContentError:
            return frozenset()
        return frozenset(f.text for f in found)

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
        if self.api == "completions":  # not stored server-side: no answer ids
            entries, covered = _legacy.response(result, self.prompts, self.n)
        elif self.api == "chat":
            entries, covered = _convert.chat_response(result, self.context)
            # store=True keeps it server-side under this id (retrieve, messages.list)
            self.answer_ids.update(_convert.texts_of(_convert.field(result, "id")))
        else:
            entries, covered = _convert.responses_response(result, self.context)
            self.answer_ids.update(
                _convert.texts_of(
                    _convert.field(result, "id"),
                    *(
                        _convert.field(item, "id")
                        for item in _convert.field(result, "output") or ()
                    ),
                )
            )
        return self.keep([*entries, *self.left_over(result, covered)])

    def left_over(self, answer: Any, covered: set[str]) -> list[_convert.Entry]:
        """Every other string of an answer (or stream event), screened as output text."""
        try:
            found = _convert.leftover(answer, covered | self.sent, parsed=self.parsed)
        except ContentError:
            return [_convert.Failed("output", UNREADABLE)]
        return [AssistantMessage(joined(found), context=self.context)] if found else []

    def keep(self, entries: list[_convert.Entry]) -> list[_convert.Entry]:
        """Drop conversion failures on surfaces the policy does not screen."""
        return [
            e
            for e in entries
            if not isinstance(e, _convert.Failed) or self.policy.screens(e.surface)
        ]

    def settle(
        self, entries: Sequence[_convert.Entry], verdicts: Sequence[Verdict]
    ) -> Verdict | None:
        """Merge failures (fail closed) with verdicts; raise or return the blocking one."""
        checked = iter(verdicts)
        blocking = None
        for entry in entries:
            verdict = self._failed(entry) if isinstance(entry, _convert.Failed) else next(checked)
            self._report(entry, verdict)
            if blocking is None and not verdict.allowed and verdict.decision != "flag":
                blocking = verdict
        if blocking is not None:  # stored server-side all the same: never chained again
            self.tainted.blocked(self.answer_ids, self.conversation)
        return self._block(blocking)

    def check(self, entries: Sequence[_convert.Entry]) -> list[Verdict]:
        items = [e for e in entries if not isinstance(e, _convert.Failed)]
        return self.guard.check_many(items, agent=self.agent) if items else []

    async def acheck(self, entries: Sequence[_convert.Entry]) -> list[Verdict]:
        items = [e for e in entries if not isinstance(e, _convert.Failed)]
        return await self.guard.acheck_many(items, agent=self.agent) if items else []

    def _failed(self, entry: _convert.Failed) -> Verdict:
        policy = self.policy
        verdict = Verdict(
            allowed=False,
            surface=entry.surface,
            policy=PolicyRef(policy.name, policy.version),
            error=f"ContentError: {entry.error}",
            action=policy.action_for(entry.surface),
            agent=self.agent,
        )
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
        return refusal_text(self.options.refusal, verdict)

    def refusal(self, verdict: Verdict, like: Any = None) -> Any:
        """The refusal of this call's type (``like``: the blocked answer, if any)."""
        text = self.refusal_text(verdict)
        if self.api == "completions":
            count = len(like.choices) if like is not None else _legacy.choices(self.n, self.prompts)
            return _legacy.refusal(text, model=self.model, like=like, choices=count)
        if self.api == "chat":
            return _refusal.chat_completion(
                text,
                model=self.model,
                like=like,
                choices=len(like.choices) if like is not None else self.n,
                parsed=self.parsed,
            )
        return _refusal.response(text, model=self.model, like=like, parsed=self.parsed)
