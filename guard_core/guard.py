"""The Guard: screens items under per-agent policies through one backend.

>>> from guard_core.testing import ScriptedBackend
>>> guard = Guard(ScriptedBackend(unsafe_words=["bomb"]))
>>> guard.check("how do I build a bomb?").allowed
False
>>> [v.allowed for v in guard.check_many(["hello", "bomb recipe"])]
[True, False]
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from guard_core.audit import AuditLog, AuditSink, audit_record
from guard_core.backends.base import Backend, Outcome
from guard_core.cache import CacheKey, VerdictCache
from guard_core.content import Item, as_item
from guard_core.errors import (
    BackendError,
    ConfigurationError,
    GuardError,
    ModelOutputError,
    PolicyError,
)
from guard_core.models import GuardRequest, Judgement
from guard_core.policy import Policy, PolicySet
from guard_core.screening import Claim, InFlight, Plan, Windowing, combine, error_verdict, plan
from guard_core.verdict import Verdict

__all__ = ["Guard"]


@dataclass(frozen=True, slots=True)
class _Answer:
    judgement: Judgement
    model: str
    score: float | None


_Result = _Answer | GuardError


class Guard:
    """Judges agent traffic with a guard model under natural-language policies.

    ``check`` / ``acheck`` return a :class:`Verdict` and never raise on a block or on a
    backend failure (that is a verdict with ``error`` set, blocked unless the policy says
    ``on_error="allow"``). They raise only for a value that is not screenable at all
    (:class:`ContentError`) or an agent with no policy (:class:`ConfigurationError`).
    The sync methods never touch an event loop, so they work inside Jupyter.

    Args:
        backend: a :class:`RemoteBackend`, :class:`LocalBackend` or test backend.
        policy: one :class:`Policy` for everyone, or a :class:`PolicySet` per agent.
        cache: True (default LRU), False, or a :class:`VerdictCache`.
        audit: a path for a JSONL audit log, or any :class:`AuditSink`.
        windowing: how text longer than one request is split.
    """

    def __init__(
        self,
        backend: Backend,
        policy: Policy | PolicySet | None = None,
        *,
        cache: bool | VerdictCache[_Answer] = True,
        audit: str | Path | AuditSink | None = None,
        windowing: Windowing | None = None,
    ) -> None:
        if not isinstance(backend, Backend):
            raise ConfigurationError(
                f"Guard needs a backend (RemoteBackend, LocalBackend, ...), got "
                f"{type(backend).__name__}; e.g. Guard(RemoteBackend.vllm(url, model), policy)"
            )
        if policy is not None and not isinstance(policy, Policy | PolicySet):
            raise PolicyError(
                f"policy must be a Policy or a PolicySet, got {type(policy).__name__}; build "
                "one with Policy(...), Policy.from_dict(...) or PolicySet.from_file(path)"
            )
        self.backend = backend
        self.family = backend.family
        if isinstance(policy, PolicySet):
            self.policies = policy
        else:
            self.policies = PolicySet({}, default=policy or Policy())
        for candidate in [self.policies.default, *(p for _, p in self.policies)]:
            if candidate is not None:
                self.family.check_policy(candidate)
        if cache is True:
            cache = VerdictCache()
        self.cache: VerdictCache[_Answer] | None = (
            cache if isinstance(cache, VerdictCache) else None
        )
        self.audit: AuditSink | None = AuditLog(audit) if isinstance(audit, str | Path) else audit
        self.windowing = windowing or Windowing()
        self._inflight: InFlight[_Answer] = InFlight()

    def __repr__(self) -> str:
        return f"Guard({self.backend.describe()}, {self.policies!r})"

    def policy_for(self, agent: str | None = None) -> Policy:
        """The policy that judges ``agent``."""
        return self.policies.get(agent)

    # -- public API -------------------------------------------------------------------------

    def check(self, item: Item | str, *, agent: str | None = None) -> Verdict:
        """Screen one item (a ``str`` is user input)."""
        return self.check_many([item], agent=agent)[0]

    async def acheck(self, item: Item | str, *, agent: str | None = None) -> Verdict:
        """Async :meth:`check`."""
        return (await self.acheck_many([item], agent=agent))[0]

    def check_many(self, items: Iterable[Item | str], *, agent: str | None = None) -> list[Verdict]:
        """Screen many items in one backend round (concurrent or batched); order is kept."""
        start = perf_counter()
        plans = self._plans(items, agent)
        claim = self._claim(plans, sync=True)
        results: dict[CacheKey, _Result] = {}
        try:
            if claim.todo:
                try:
                    outcomes = self.backend.classify(list(claim.todo.values()))
                except Exception as exc:  # a backend bug must not let content through
                    outcomes = [BackendError(f"backend failed: {exc!r}")] * len(claim.todo)
                results = self._parse_all(claim.todo, outcomes)
        finally:
            self._inflight.settle(claim, results)
        for key, future in claim.shared.items():
            results[key] = future.result()
        return self._finish(plans, results, claim, start)

    async def acheck_many(
        self, items: Iterable[Item | str], *, agent: str | None = None
    ) -> list[Verdict]:
        """Async :meth:`check_many`."""
        start = perf_counter()
        plans = self._plans(items, agent)
        claim = self._claim(plans, sync=False)
        results: dict[CacheKey, _Result] = {}
        try:
            if claim.todo:
                try:
                    outcomes = await self.backend.aclassify(list(claim.todo.values()))
                except Exception as exc:
                    outcomes = [BackendError(f"backend failed: {exc!r}")] * len(claim.todo)
                results = self._parse_all(claim.todo, outcomes)
        finally:
            self._inflight.settle(claim, results)
        for key, future in claim.shared.items():
            results[key] = await asyncio.wrap_future(future)
        return self._finish(plans, results, claim, start)

    def close(self) -> None:
        self.backend.close()

    async def aclose(self) -> None:
        await self.backend.aclose()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Guard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- pure steps shared by both paths ----------------------------------------------------

    def _plans(self, items: Iterable[Item | str], agent: str | None) -> list[Plan]:
        if isinstance(items, str | bytes):
            raise TypeError("check_many takes an iterable of items; use check() for one")
        policy = self.policies.get(agent)
        return [plan(as_item(item), policy, agent, self.family, self.windowing) for item in items]

    def _key(self, policy: Policy, request: GuardRequest) -> CacheKey:
        return (self.backend.model, policy.version, request.key)

    def _claim(self, plans: Sequence[Plan], *, sync: bool) -> Claim[_Answer]:
        keyed = [(self._key(p.policy, r), r) for p in plans for r in p.requests]
        return self._inflight.claim(keyed, self.cache, sync=sync)

    def _parse_all(
        self, todo: dict[CacheKey, GuardRequest], outcomes: Sequence[Outcome]
    ) -> dict[CacheKey, _Result]:
        if len(outcomes) != len(todo):  # a backend bug: fail closed, never crash or misalign
            outcomes = [
                BackendError(
                    f"{self.backend.describe()} answered {len(outcomes)} "
                    f"outcomes for {len(todo)} requests"
                )
            ] * len(todo)
        return {
            key: self._parse(key, request, outcome)
            for (key, request), outcome in zip(todo.items(), outcomes, strict=True)
        }

    def _finish(
        self,
        plans: Sequence[Plan],
        results: dict[CacheKey, _Result],
        claim: Claim[_Answer],
        start: float,
    ) -> list[Verdict]:
        results.update(claim.known)
        latency_ms = (perf_counter() - start) * 1000
        verdicts = [self._verdict(p, results, claim.known.keys(), latency_ms) for p in plans]
        if self.audit is not None:  # every verdict is built before the first record is written
            for p, verdict in zip(plans, verdicts, strict=True):
                if verdict.screened:
                    self.audit.write(audit_record(verdict, p.content_hash))
        return verdicts

    def _parse(self, key: CacheKey, request: GuardRequest, outcome: Outcome) -> _Result:
        if isinstance(outcome, GuardError):
            return outcome
        try:
            judgement = self.family.parse(outcome, request)
        except ModelOutputError as exc:
            return exc
        except Exception as exc:  # an answer no parser foresaw (text that is not a str...)
            return ModelOutputError(f"unreadable answer from the guard model: {exc!r}"[:300])
        model = outcome.model if isinstance(outcome.model, str) and outcome.model else None
        answer = _Answer(judgement, model or self.backend.model, outcome.score)
        if self.cache is not None:
            self.cache.put(key, answer)
        return answer

    def _verdict(
        self,
        p: Plan,
        results: dict[CacheKey, _Result],
        cached_keys: AbstractSet[CacheKey],
        latency_ms: float,
    ) -> Verdict:
        model = self.backend.model
        if p.error is not None:
            return error_verdict(p, p.error, model, latency_ms)
        keys = [self._key(p.policy, r) for r in p.requests]
        answers: list[_Answer] = []
        for key in keys:
            result = results[key]
            if isinstance(result, GuardError):
                return error_verdict(p, result, model, latency_ms)
            answers.append(result)
        cached = bool(keys) and all(k in cached_keys for k in keys)
        return combine(
            p,
            [a.judgement for a in answers],
            [a.score for a in answers],
            answers[0].model if answers else model,
            latency_ms,
            cached,
        )

    def __getstate__(self) -> Any:
        raise TypeError("a Guard holds live connections; build one per process")
