"""Pure pieces of talking to an HTTP endpoint, shared by the sync and async paths.

Retry delays (``Retry-After`` honoured, capped), a client-side rate limiter, the mapping of
SDK exceptions to guard errors with a message that says what to do, and the redaction of
secrets: the API key and credentials written into the URL (``user:password@``, ``?api-key=``).

>>> redact_url("https://bob:s3cret@guard.example/v1?api-key=k3y&api-version=2")
'https://guard.example/v1?api-key=***&api-version=2'
>>> Redactor("k3y-planted")("refused k3y-planted")
'refused ***'
"""

from __future__ import annotations

import base64
import email.utils
import logging
import random
import threading
import time
from collections.abc import Mapping
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from guard_core.errors import (
    BackendError,
    BackendHTTPError,
    BackendUnavailable,
    ConfigurationError,
    GuardError,
)

__all__ = [
    "RETRYABLE_STATUS",
    "RateLimiter",
    "Redactor",
    "hide_in_logs",
    "map_error",
    "redact_url",
    "retry_delay",
    "split_url",
    "url_secrets",
]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

_HINTS = {
    400: "the endpoint refused the request; check the model id and that the endpoint "
    "serves this guard model",
    401: "the API key was refused; check the key (NVIDIA_API_KEY / OPENROUTER_API_KEY / api_key=)",
    402: "payment required: the account has no credit left (OpenRouter: add credit or use a "
    ":free model)",
    403: "the API key may not use this model; check its permissions",
    404: "model or path not found; check the model id and that base_url ends in /v1",
    413: "the request is too large for the endpoint; screen smaller items",
    429: "rate limited; lower the load or set requests_per_minute=",
}


class _SecretFilter(logging.Filter):
    """Replaces known secrets in log records (the HTTP stack logs headers at DEBUG)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()  # longest first: "u:KEY" before "KEY"

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = self._hide(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        # openai 2.x logs HTTP errors with exc_info: the traceback quotes the request URL.
        # Handlers format it later; formatted here, redacted, it is what they print.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._hide(record.exc_text)
        if record.stack_info:
            record.stack_info = self._hide(record.stack_info)
        return True

    def _hide(self, text: str) -> str:
        for secret in self.secrets:  # sorted once when added, not on every log record
            text = text.replace(secret, "***")
        return text


_LOG_FILTER = _SecretFilter()
_LOGGED_PACKAGES = ("openai", "httpx2", "httpcore2", "httpx", "httpcore", "guard_core")


def hide_in_logs(secret: str | None) -> None:
    """Keep ``secret`` out of every record of the SDK's and HTTP client's loggers.

    A logger's filters do not apply to its children, so the filter goes on every logger
    of those packages that exists now (their modules are imported by then).
    """
    if not secret or len(secret) < 4:
        return
    if secret not in _LOG_FILTER.secrets:
        _LOG_FILTER.secrets = tuple(sorted({*_LOG_FILTER.secrets, secret}, key=len, reverse=True))
    names = [
        n for n in list(logging.root.manager.loggerDict) if n.split(".", 1)[0] in _LOGGED_PACKAGES
    ]
    for name in {*names, *_LOGGED_PACKAGES}:
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)


class Redactor:
    """Removes secrets from any text before it reaches a message, log or audit record."""

    def __init__(self, *secrets: str | None) -> None:
        kept = {s for s in secrets if s and len(s) >= 4}
        self._secrets = tuple(sorted(kept, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


# Query parameters that never carry a credential; every other value is shown as ***.
_HARMLESS_QUERY = frozenset({"api-version", "api_version", "version"})


def _query(query: str) -> list[tuple[str, str | None, bool]]:
    """(name, raw value or None where there is no ``=``, is it secret) for each part."""
    parts = [
        (name, value if eq else None)
        for name, eq, value in (part.partition("=") for part in query.split("&") if part)
    ]
    return [
        (name, value, value is None or unquote_plus(name).lower() not in _HARMLESS_QUERY)
        for name, value in parts
    ]


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL the client is built on (no query, no fragment) and the query it sends with
    every request; ``?api-key=`` on a base URL would otherwise end up in the request path."""
    parts = urlsplit(url)
    query = {unquote_plus(n): unquote_plus(v or "") for n, v, _ in _query(parts.query)}
    return urlunsplit(parts._replace(query="", fragment="")).rstrip("/"), query


def redact_url(url: str) -> str:
    """``url`` as it may be shown: no ``user:password@``, query values (credentials) as ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    query = "&".join(
        "***" if value is None else f"{name}={'***' if secret else value}"
        for name, value, secret in _query(parts.query)
    )
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


def url_secrets(url: str) -> tuple[str, ...]:
    """Every form a credential in ``url`` can take in a message or a log line: the userinfo
    and each query value (but ``api-version``), as written, decoded and re-encoded, and the
    ``Authorization: Basic`` value the HTTP client makes of ``user:password``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return (url,)
    userinfo, at, _ = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    basic = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    raw = [userinfo, user, password, basic] if at else []
    raw += [
        value if value is not None else name
        for name, value, secret in _query(parts.query)
        if secret
    ]
    forms = {
        form
        for text in raw
        for plain in (text, unquote(text), unquote_plus(text))
        for form in (plain, quote(plain, safe=""), quote_plus(plain))
    }
    return tuple(sorted(f for f in forms if len(f) >= 4))


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def retry_delay(error: GuardError, attempt: int, max_retries: int, max_wait: float) -> float | None:
    """How long to wait before retry number ``attempt + 1``; None means give up now."""
    if attempt >= max_retries:
        return None
    if isinstance(error, BackendHTTPError):
        if error.status not in RETRYABLE_STATUS:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= max_wait else None
    elif not (isinstance(error, BackendUnavailable) and error.retryable):
        return None
    backoff: float = min(max_wait, 0.25 * 2**attempt)
    return backoff * (0.5 + random.random() / 2)


class RateLimiter:
    """Spaces requests to at most ``per_minute``; ``reserve()`` returns the wait for a slot."""

    def __init__(self, per_minute: float) -> None:
        if per_minute <= 0:
            raise ConfigurationError(
                f"requests_per_minute={per_minute!r}: give a positive rate, or None for no limit"
            )
        self.interval = 60.0 / per_minute
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now


def map_error(
    exc: BaseException, *, base_url: str, model: str, timeout: float, redact: Redactor
) -> GuardError:
    """An SDK or socket exception as a guard error whose message says what to do."""
    import openai

    if isinstance(exc, GuardError):
        return exc
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return BackendUnavailable(
            f"no answer from {base_url} within {timeout:g}s; the endpoint is slow or "
            "overloaded (raise timeout= or check the server)"
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return BackendUnavailable(
            redact(
                f"cannot reach {base_url}: {type(cause).__name__}: {cause}; is the server up and "
                "the URL right?"
            ),
            retryable=True,
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        hint = _HINTS.get(status, "server error" if status >= 500 else "unexpected status")
        detail = redact(_short(exc.message))
        return BackendHTTPError(
            f"HTTP {status} from {base_url} (model {model}): {hint}. Server said: {detail}",
            status=status,
            retry_after=parse_retry_after(dict(exc.response.headers)),
        )
    if isinstance(
        exc, openai.APIResponseValidationError | ValueError | KeyError | AttributeError | TypeError
    ):
        return BackendError(
            redact(
                f"malformed answer from {base_url}: {_short(str(exc))}; is base_url an "
                "OpenAI-compatible endpoint (ending in /v1)?"
            )
        )
    return BackendError(redact(f"{type(exc).__name__} talking to {base_url}: {_short(str(exc))}"))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."
