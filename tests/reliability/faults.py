"""The fault catalogue: what a guard endpoint can do wrong, and what the caller must be told.

Every case is injected for every attempt of every request (``times`` is large), so a retry
meets the same fault and the retry budget can be counted. ``attempts`` is the number of
POSTs one guard request may make with ``max_retries=1`` (retryable faults: 2).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from guard_core.testing import Fault

FOREVER = 10_000
SLOW_TIMEOUT = 0.05  # the client timeout used by the timeout and trickle cases
TIMEOUT = 5.0  # every other case: the fault, not the clock, must decide
MAX_RETRIES = 1


@dataclass(frozen=True)
class Case:
    name: str
    fault: Fault | None  # None: nothing listens on the port (connection refused)
    expect: tuple[str, ...]  # what every error message must say
    attempts: int = 1
    timeout: float = TIMEOUT
    async_only: bool = False  # the sync deadline is tested on its own (it needs 2 s)
    core_only: bool = False  # a variant that reaches adapters as the same error verdict


def _fault(**kwargs: object) -> Fault:
    return Fault(times=FOREVER, **kwargs)  # type: ignore[arg-type]


def _http(status: int, hint: str, attempts: int = 1, **kwargs: object) -> Case:
    return Case(
        f"http-{status}",
        _fault(status=status, **kwargs),
        ("BackendHTTPError", f"HTTP {status}", hint),
        attempts,
    )


# Reference section 5, as a Nemotron 3.5 guard would get them wrong: (text, finish_reason,
# core_only). One case per failure mode runs on every surface; its variants on the core.
MALFORMED: dict[str, tuple[str, str, bool]] = {
    "first-words-not-safe": ("Not safe.", "stop", False),
    "first-words-safe-unsafe": ("safe unsafe", "stop", True),
    "other-key-only": ("Violated Categories: Violence", "stop", False),
    "disagreeing-lines": (
        "User Safety: safe\nUser Safety: unsafe\nResponse Safety: safe\nResponse Safety: unsafe",
        "stop",
        False,
    ),
    "unclosed-think": ("<think>\nThe user asks about tea, so", "stop", False),
    "empty-length": ("", "length", False),
    "verdict-cut-length": ("User Safety: safe\nResponse Safety: sa", "length", True),
    "empty-stop": ("", "stop", True),
    "wrong-family-csr": ("Prompt harm: unharmful\nResponse harm: unharmful", "stop", False),
    "wrong-family-nemoguard": ('{"User Safety": "safe", "Response Safety": "safe"}', "stop", True),
}

CASES: tuple[Case, ...] = (
    Case(
        "timeout",
        _fault(delay=1.0),
        ("BackendUnavailable", "within 0.05s", "raise timeout="),
        timeout=SLOW_TIMEOUT,
    ),
    Case(
        "connection-refused",
        None,
        ("BackendUnavailable", "cannot reach", "is the server up"),
        attempts=2,
    ),
    Case(
        "connection-dropped", _fault(drop=True), ("BackendUnavailable", "cannot reach"), attempts=2
    ),
    _http(429, "rate limited", 2, headers={"Retry-After": "0"}),
    Case(
        "http-429-no-retry-after",
        _fault(status=429),
        ("BackendHTTPError", "HTTP 429", "rate limited"),
        2,
    ),
    _http(500, "server error", 2),
    _http(502, "server error", 2),
    _http(503, "server error", 2),
    _http(401, "API key was refused"),
    _http(402, "payment required"),
    _http(404, "not found"),
    Case("empty-body", _fault(body=b""), ("BackendError", "malformed answer")),
    Case(
        "non-json-body",
        _fault(body=b"<html><h1>Bad Gateway</h1></html>"),
        ("BackendError", "malformed answer"),
    ),
    Case(
        "html-content-type",
        _fault(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}),
        ("BackendError", "malformed answer"),
        core_only=True,
    ),
    Case(
        "json-without-choices",
        _fault(body=b'{"object": "chat.completion"}'),
        ("BackendError", "no choices"),
        core_only=True,
    ),
    Case(
        "trickle",
        _fault(trickle=0.02),
        ("BackendUnavailable", "within 0.05s"),
        timeout=SLOW_TIMEOUT,
        async_only=True,
    ),
    *(
        Case(
            f"malformed-{name}",
            _fault(text=text, finish_reason=finish),
            ("ModelOutputError",),
            core_only=core_only,
        )
        for name, (text, finish, core_only) in MALFORMED.items()
    ),
)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
