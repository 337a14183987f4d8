"""An adapter's settings, checked when it is built: every mistake is a ConfigurationError.

One vocabulary across adapters, checked in one place:

- ``guard``: a :class:`~guard_core.guard.Guard` (:func:`require_guard`);
- ``on_block``: ``"raise"`` or ``"refuse"``; ``refusal``: a string or a function of the
  blocking verdict (:data:`~guard_core.adapters.decisions.Refusal`);
- ``streaming`` (``"buffer"`` | ``"incremental"``), ``stream_chars`` (new text per check),
  ``stream_context`` (characters before it that each check sees too): :func:`stream_options`;
- renamed settings keep working one release with a ``DeprecationWarning`` (:func:`renamed`).

>>> from guard_core.screening import Windowing
>>> stream_options("GuardRunnable", "incremental", 200, None, Windowing())
StreamOptions(streaming='incremental', stream_chars=200, stream_context=1000)
>>> stream_options("GuardRunnable", "sometimes", 200, None, Windowing())
Traceback (most recent call last):
...
guard_core.errors.ConfigurationError: GuardRunnable: streaming must be one of 'buffer', \
'incremental'; got 'sometimes'
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from typing import Any, Literal, NamedTuple, TypeVar, get_args

from guard_core.adapters.decisions import Refusal
from guard_core.adapters.streaming import default_context
from guard_core.errors import ConfigurationError
from guard_core.guard import Guard
from guard_core.policy import Action
from guard_core.screening import Windowing

__all__ = [
    "ON_BLOCK",
    "STREAMING",
    "OnBlock",
    "StreamOptions",
    "Streaming",
    "action_option",
    "one_of",
    "refusal_option",
    "renamed",
    "require_guard",
    "stream_options",
]

OnBlock = Literal["raise", "refuse"]
Streaming = Literal["buffer", "incremental"]
ON_BLOCK: tuple[OnBlock, ...] = ("raise", "refuse")
STREAMING: tuple[Streaming, ...] = ("buffer", "incremental")

ACTIONS: tuple[Action, ...] = get_args(Action)
_T = TypeVar("_T")


class StreamOptions(NamedTuple):
    """How a stream is screened: whole (``buffer``) or released in checked steps."""

    streaming: Streaming
    stream_chars: int
    stream_context: int


def require_guard(owner: str, guard: object, *, accepts: str = "a Guard") -> Guard:
    """``guard`` when it is a :class:`Guard`; else a ConfigurationError naming ``owner``."""
    if not isinstance(guard, Guard):
        raise ConfigurationError(
            f"{owner} needs {accepts}, got {type(guard).__name__}; "
            "build one with guard_core.Guard(backend, policy)"
        )
    return guard


def one_of(owner: str, name: str, value: object, choices: Collection[_T]) -> _T:
    """``value`` when it is one of ``choices``; else a ConfigurationError listing them."""
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return choice
    listed = ", ".join(repr(c) for c in choices)
    raise ConfigurationError(f"{owner}: {name} must be one of {listed}; got {value!r}")


def refusal_option(owner: str, refusal: object) -> Refusal:
    """``refusal`` when it is a string or a function of the blocking verdict."""
    if isinstance(refusal, str) or callable(refusal):
        return refusal
    raise ConfigurationError(
        f"{owner}: refusal must be a str or a function of the blocking Verdict returning a "
        f"str; got {type(refusal).__name__}"
    )


def action_option(owner: str, action: object) -> Action | None:
    """``action`` (an override of the policy's action) when it is None or an action."""
    return None if action is None else one_of(owner, "action", action, ACTIONS)


def _count(owner: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(
            f"{owner}: {name} must be an int of characters, at least {minimum}; got {value!r}"
        )
    return value


def stream_options(
    owner: str,
    streaming: object,
    stream_chars: object,
    stream_context: object | None,
    windowing: Windowing,
) -> StreamOptions:
    """Checked stream settings; ``stream_context`` None is
    :func:`~guard_core.adapters.streaming.default_context`."""
    mode = one_of(owner, "streaming", streaming, STREAMING)
    chars = _count(owner, "stream_chars", stream_chars, 1)
    if stream_context is None:
        context = default_context(chars, windowing)
    else:
        context = _count(owner, "stream_context", stream_context, 0)
    return StreamOptions(mode, chars, context)


def renamed(
    owner: str,
    given: dict[str, Any],
    aliases: Mapping[str, str],
    current: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings ``current`` with the deprecated names in ``given`` (old -> new in
    ``aliases``) moved onto their new names, each with a ``DeprecationWarning``.

    Setting both an old name and its new one (away from its default) is a
    ConfigurationError, and so is any name that is neither."""
    out = dict(current)
    defaults = defaults or {}
    for old, value in given.items():
        new = aliases.get(old)
        if new is None:
            known = ", ".join(sorted(current))
            raise ConfigurationError(f"{owner} got an unknown setting {old!r}; it takes {known}")
        if new in defaults and out[new] != defaults[new]:
            raise ConfigurationError(f"{owner}: pass {new}= only ({old}= is its old name)")
        warnings.warn(
            f"{owner}: {old}= is renamed {new}= (the same name in every guard-core adapter); "
            f"{old}= stops working in the next release",
            DeprecationWarning,
            stacklevel=3,
        )
        out[new] = value
    return out
