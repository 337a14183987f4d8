"""The pure steps of a screening, shared by the sync and async paths of :class:`Guard`.

item -> exchanges (one per image, one per window of very long text) -> requests;
judgements -> one :class:`Verdict`. No I/O here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

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
from guard_core.errors import ContentError, GuardError
from guard_core.models import Exchange, GuardRequest, Judgement, ModelFamily
from guard_core.policy import Policy
from guard_core.verdict import PolicyRef, Verdict

__all__ = ["Plan", "Windowing", "combine", "error_verdict", "plan"]


@dataclass(frozen=True, slots=True)
class Windowing:
    """How text longer than one request is split: overlapping windows, any unsafe one blocks."""

    window_chars: int = 24_000
    overlap_chars: int = 1_000
    max_windows: int = 64
    context_chars: int = 4_000

    def __post_init__(self) -> None:
        if self.window_chars < 1 or self.max_windows < 1 or self.context_chars < 0:
            raise ValueError("Windowing needs window_chars >= 1, max_windows >= 1 and "
                             "context_chars >= 0")
        if not 0 <= self.overlap_chars < self.window_chars:
            raise ValueError("Windowing overlap_chars must be >= 0 and below window_chars")

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
        return [text[i * step: i * step + self.window_chars] for i in range(count)]


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
        images = (item,) if isinstance(item, Image) else (
            item.images if isinstance(item, UserMessage) else ())
        for image in images:
            digest.update(image.data if image.data is not None else (image.url or "").encode())
        return digest.hexdigest()


def _exchanges(item: Item, policy: Policy, windowing: Windowing) -> list[Exchange]:
    images: tuple[Image, ...] = ()
    assistant: str | None = None
    if isinstance(item, UserMessage):
        user, images = item.text, item.images
    elif isinstance(item, AssistantMessage | ToolCall):
        user = item.context.text[-windowing.context_chars:] if item.context else ""
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


def plan(item: Item, policy: Policy, agent: str | None, family: ModelFamily,
         windowing: Windowing) -> Plan:
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
        allowed=allowed, surface=p.surface, policy=_ref(p.policy),
        model=model, latency_ms=latency_ms, error=message,
        action=p.policy.action_for(p.surface), agent=p.agent,
    )


def combine(p: Plan, judgements: list[Judgement], scores: list[float | None], model: str,
            latency_ms: float, cached: bool) -> Verdict:
    """One verdict from every request of an item: any unsafe part blocks."""
    policy = p.policy
    if p.skip:
        return Verdict(allowed=True, surface=p.surface, policy=_ref(policy), model=model,
                       action=policy.action_for(p.surface), agent=p.agent, screened=False)
    unsafe = False
    categories: list[str] = []
    for judgement in judgements:
        cats = judgement.categories
        if judgement.unsafe and cats and all(c in policy.exclude_categories for c in cats):
            continue  # unsafe only in categories this policy does not care about
        if judgement.unsafe:
            unsafe = True
            categories += [c for c in cats
                           if c not in categories and c not in policy.exclude_categories]
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
