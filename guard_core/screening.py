"""The pure steps of a screening, shared by the sync and async paths of :class:`Guard`.

item -> exchanges (one per image, one per window of very long text) -> requests;
judgements -> one :class:`Verdict`; the table of requests in flight. No I/O here.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from guard_core.cache import CacheKey, VerdictCache
from guard_core.content import (
    AssistantMessage,
    Image,
    Item,
    RetrievedChunk,
    Surface,
    ToolCall,
    ToolResult,
    UserMessage,
)
from guard_core.errors import BackendUnavailable, ConfigurationError, ContentError, GuardError
from guard_core.models import Exchange, GuardRequest, Judgement, ModelFamily
from guard_core.policy import Policy
from guard_core.verdict import PolicyRef, Verdict

# Windowing is the API; the rest are Guard's own steps (imported by name, not exported)
__all__ = ["Windowing"]
A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Windowing:
    """How text longer than one request is split: overlapping windows, any unsafe one blocks."""

    window_chars: int = 24_000
    overlap_chars: int = 1_000
    max_windows: int = 64
    context_chars: int = 4_000

    def __post_init__(self) -> None:
        if self.window_chars < 1 or self.max_windows < 1 or self.context_chars < 0:
            raise ConfigurationError(
                "Windowing needs window_chars >= 1, max_windows >= 1 and context_chars >= 0"
            )
        if not 0 <= self.overlap_chars < self.window_chars:
            raise ConfigurationError("Windowing overlap_chars must be >= 0 and below window_chars")

    def split(self, text: str) -> list[str]:
        if len(text) <= self.window_chars:
            return [text]
        step = self.window_chars - self.overlap_chars
        count = -(-(len(text) - self.overlap_chars) // step)
        if count > self.max_windows:
            limit = step * self.max_windows + self.overlap_chars
            raise ContentError(
                f"text of {len(text)} characters is over the {limit}-character limit "
                f"({self.max_windows} windows of {self.window_chars}); split it before screening "
                "or raise Guard(windowing=Windowing(max_windows=...))"
            )
        return [text[i * step : i * step + self.window_chars] for i in range(count)]


@dataclass(slots=True)
class Plan:
    """One item on its way through the guard."""

    item: Item
    surface: Surface
    policy: Policy
    agent: str | None
    requests: list[GuardRequest] = field(default_factory=list)
    error: GuardError | None = None
    skip: bool = False

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256(repr(self.item).encode("utf-8", "replace"))
        # An image's repr shows only its size: hash the bytes so two images never collide.
        item = self.item
        images = (
            (item,)
            if isinstance(item, Image)
            else (item.images if isinstance(item, UserMessage) else ())
        )
        for image in images:
            digest.update(image.data if image.data is not None else (image.url or "").encode())
        return digest.hexdigest()


def _exchanges(item: Item, policy: Policy, windowing: Windowing) -> list[Exchange]:
    images: tuple[Image, ...] = ()
    assistant: str | None = None
    if isinstance(item, UserMessage):
        user, images = item.text, item.images
    elif isinstance(item, AssistantMessage | ToolCall):
        user = item.context.text[-windowing.context_chars :] if item.context else ""
        if isinstance(item, AssistantMessage):
            assistant = item.text
        else:
            assistant = f"calls tool {item.name} with {item.arguments_json}"
        images = ()
    elif isinstance(item, ToolResult):
        user = item.content
    elif isinstance(item, RetrievedChunk):
        user = item.text
    else:
        user, images = item.caption or "", (item,)
    if not policy.screens("image"):
        images = ()
    if images:
        caption = user[: windowing.window_chars]
        exchanges = [Exchange(caption, image=image) for image in images]
        if len(user) > windowing.window_chars:
            # The caption holds the first window; the rest of a long text is screened on
            # its own.
            exchanges += [Exchange(window) for window in windowing.split(user)[1:]]
        return exchanges
    if assistant is not None:
        return [Exchange(user, assistant=window) for window in windowing.split(assistant)]
    if not user.strip():
        return []
    return [Exchange(window) for window in windowing.split(user)]


def plan(
    item: Item, policy: Policy, agent: str | None, family: ModelFamily, windowing: Windowing
) -> Plan:
    """Render ``item`` under ``policy``; a render failure is kept as the plan's error."""
    result = Plan(item=item, surface=item.surface, policy=policy, agent=agent)
    if not policy.screens(item.surface):
        result.skip = True
        return result
    try:
        result.requests = [family.render(ex, policy) for ex in _exchanges(item, policy, windowing)]
    except GuardError as exc:
        result.error = exc
    if not result.requests and result.error is None:
        result.skip = True  # nothing to judge: empty text, no image
    return result


def _ref(policy: Policy) -> PolicyRef:
    return PolicyRef(policy.name, policy.version)


def error_verdict(p: Plan, error: BaseException, model: str, latency_ms: float) -> Verdict:
    """The fail-closed verdict (``on_error='allow'`` lets it pass, still marked)."""
    message = f"{type(error).__name__}: {error}"
    # on_error="allow" covers guard failures; content that cannot be screened (too long,
    # unusable) never passes, or padding a payload would be a way past the guard
    allowed = p.policy.on_error == "allow" and not isinstance(error, ContentError)
    return Verdict(
        allowed=allowed,
        surface=p.surface,
        policy=_ref(p.policy),
        model=model,
        latency_ms=latency_ms,
        error=message,
        action=p.policy.action_for(p.surface),
        agent=p.agent,
    )


def combine(
    p: Plan,
    judgements: list[Judgement],
    scores: list[float | None],
    model: str,
    latency_ms: float,
    cached: bool,
) -> Verdict:
    """One verdict from every request of an item: any unsafe part blocks."""
    policy = p.policy
    if p.skip:
        return Verdict(
            allowed=True,
            surface=p.surface,
            policy=_ref(policy),
            model=model,
            action=policy.action_for(p.surface),
            agent=p.agent,
            screened=False,
        )
    unsafe = False
    categories: list[str] = []
    for judgement in judgements:
        cats = judgement.categories
        if judgement.unsafe and cats and all(c in policy.exclude_categories for c in cats):
            continue  # unsafe only in categories this policy does not care about
        if judgement.unsafe:
            unsafe = True
            categories += [
                c for c in cats if c not in categories and c not in policy.exclude_categories
            ]
    reasons = [j.reasoning for j in judgements if j.reasoning]
    known = [s for s in scores if s is not None]
    return Verdict(
        allowed=not unsafe,
        surface=p.surface,
        policy=_ref(policy),
        categories=tuple(categories),
        reasoning="\n---\n".join(reasons) if reasons else None,
        score=max(known) if known and len(known) == len(scores) else None,
        model=model,
        latency_ms=latency_ms,
        cached=cached,
        action=policy.action_for(p.surface),
        agent=p.agent,
        user_unsafe=any(j.user_unsafe for j in judgements) if judgements else None,
    )


class Claim(Generic[A]):
    """A check's requests: cached (``known``), to send (``todo``), sent by another (``shared``)."""

    __slots__ = ("known", "owned", "shared", "todo")

    def __init__(self) -> None:
        self.todo: dict[CacheKey, GuardRequest] = {}
        self.known: dict[CacheKey, A] = {}
        self.shared: dict[CacheKey, Future[A | GuardError]] = {}
        self.owned: list[CacheKey] = []


class InFlight(Generic[A]):
    """Requests being sent now, by cache key: a check needing one waits for its answer
    instead of sending it again, and answers reach the cache before they leave this table, so
    each distinct request is sent once however many checks screen it at once. A sync check
    never waits for one started on its own thread (an async check on the loop it blocks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._senders: dict[CacheKey, int] = {}  # the sending check's thread
        self._waited: dict[CacheKey, Future[Any]] = {}  # made only when a check waits

    def claim(
        self,
        keyed: Iterable[tuple[CacheKey, GuardRequest]],
        cache: VerdictCache[A] | None,
        *,
        sync: bool,
    ) -> Claim[A]:
        claim: Claim[A] = Claim()
        todo, known, senders, waited = claim.todo, claim.known, self._senders, self._waited
        with self._lock:  # the cache and the table are read as one, against settle()
            for key, request in keyed:
                if key in todo or key in known or key in claim.shared:
                    continue
                if (hit := cache.get(key) if cache is not None else None) is not None:
                    known[key] = hit
                elif (sender := senders.get(key)) is None:
                    todo[key] = request
                    claim.owned.append(key)
                    senders[key] = threading.get_ident()
                elif sync and sender == threading.get_ident():  # waiting would block its loop
                    todo[key] = request
                else:
                    if (future := waited.get(key)) is None:
                        future = waited[key] = Future()
                        future.set_running_or_notify_cancel()  # no waiter can cancel it
                    claim.shared[key] = future
        return claim

    def settle(self, claim: Claim[A], results: Mapping[CacheKey, A | GuardError]) -> None:
        """Hand results to the waiters (in ``finally``: an interruption gives them an error)."""
        if not claim.owned:
            return
        with self._lock:
            for key in claim.owned:
                del self._senders[key]
            waited = [(key, self._waited.pop(key)) for key in claim.owned if key in self._waited]
        for key, future in waited:
            future.set_result(
                results.get(key)
                or BackendUnavailable(
                    "the check sending this request was cancelled or interrupted; check again"
                )
            )
