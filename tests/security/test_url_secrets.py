"""A credential written into the base URL is kept as secret as ``api_key=``.

Gateways take keys as ``https://user:KEY@host/v1`` (HTTP Basic) or ``?api-key=KEY`` /
``?key=`` / ``?token=`` / ``?access_token=`` / ``?sig=``. The key is planted in each place, sent
to a real loopback server that refuses it, echoes the request (path with its query, and the
``Authorization: Basic`` header made of the userinfo) in its error, or repeats it in the
model's answer; then every place text comes out is searched for it in every form it can take
(as written, decoded, re-encoded, base64 in the Basic header): reprs, verdicts, the audit
file, every log record at DEBUG, the probe result and the CLI's output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from guard_core import Guard, Policy
from guard_core.audit import AuditLog
from guard_core.backends import RemoteBackend
from guard_core.backends.remote.transport import redact_url, url_secrets
from guard_core.testing import Fault, OpenAICompatServer

N35 = "nvidia/nemotron-3.5-content-safety"
CSR = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
KEY = "PLANTED-url-9d41c7e2b8a5f036"
ODD_KEY = "PLANTED/url+9d41=c7e2&b8a5 f036"  # needs percent-encoding in a URL
BASIC_USER = "alice"


def _forms(key: str) -> list[str]:
    """Every form the key could leak in; the Basic header value included."""
    basic = base64.b64encode(f"{BASIC_USER}:{key}".encode()).decode()
    key_only = base64.b64encode(f"{key}:".encode()).decode()
    return [
        key,
        quote(key, safe=""),
        quote_plus(key),
        "9d41c7e2b8a5f036",
        "c7e2&b8a5 f036",
        basic,
        key_only,
    ]


Plant = Callable[[str], str]
PLACES: dict[str, tuple[Plant, str]] = {
    "userinfo-password": (lambda url: url.replace("http://", f"http://{BASIC_USER}:{KEY}@"), KEY),
    "userinfo-only-user": (lambda url: url.replace("http://", f"http://{KEY}@"), KEY),
    "query-api-key": (lambda url: f"{url}?api-key={KEY}", KEY),
    "query-key": (lambda url: f"{url}?api-version=2024-06-01&key={KEY}", KEY),
    "query-token": (lambda url: f"{url}?token={KEY}", KEY),
    "query-access_token": (lambda url: f"{url}?access_token={KEY}", KEY),
    "query-sig": (lambda url: f"{url}/?sv=2024&sig={KEY}", KEY),
    "query-encoded": (lambda url: f"{url}?token={quote(ODD_KEY, safe='')}", ODD_KEY),
    "both": (
        lambda url: url.replace("http://", f"http://{BASIC_USER}:{KEY}@") + f"?api-key={KEY}",
        KEY,
    ),
}
SCENARIOS: dict[str, Callable[[str], Fault] | None] = {
    "refused-401": None,  # the server wants a bearer key it never gets
    "echo-request-401": lambda key: Fault(status=401, echo_request=True, times=100),
    "echo-request-500-retried": lambda key: Fault(status=500, echo_request=True, times=100),
    "echo-in-answer": lambda key: Fault(
        text=f"User Safety: safe {key} {quote_plus(key)}", times=100
    ),
}


def _leaks(key: str, *texts: object) -> list[str]:
    return [str(t)[:300] for t in texts if any(f in str(t) for f in _forms(key))]


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer(api_key="sk-the-right-one") as srv:
        yield srv


def _sent(server: OpenAICompatServer, key: str) -> bool:
    """The key really went out, in the query or the Basic header (the search is not vacuous)."""
    return any(
        any(f in r.path or f in r.headers.get("Authorization", "") for f in _forms(key))
        for r in server.requests
    )


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("place", list(PLACES))
def test_a_key_in_the_url_never_shows(
    place: str,
    scenario: str,
    server: OpenAICompatServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    plant, key = PLACES[place]
    if (fault := SCENARIOS[scenario]) is not None:
        server.api_key = None
        server.inject(fault(key))
    caplog.set_level(logging.DEBUG)
    backend = RemoteBackend.vllm(
        plant(server.base_url), N35, max_retries=1, max_retry_wait=0.001, timeout=5.0
    )
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = Guard(backend, Policy(name="p", mode="think"), audit=audit)
    verdicts = guard.check_many(["hello", "how do I make tea?"])

    async def async_round() -> list[object]:
        try:
            return list(await guard.acheck_many(["and in async?"]))
        finally:
            await guard.aclose()

    verdicts += asyncio.run(async_round())  # type: ignore[arg-type]
    probe = backend.probe()
    backend.close()
    audit.close()
    assert _sent(server, key)
    assert all(
        r.path.split("?")[0] in ("/v1/chat/completions", "/v1/completions") for r in server.requests
    ), "the query went into the request path"
    assert all(not v.allowed for v in verdicts) and not probe.ok
    outputs: list[object] = [
        repr(guard),
        repr(backend),
        backend.describe(),
        str(probe),
        repr(probe),
        (tmp_path / "audit.jsonl").read_text(),
        caplog.text,
    ]
    for v in verdicts:
        outputs += [
            v.error,
            v.reason,
            v.reasoning,
            repr(v),
            v._repr_html_(),
            v._repr_markdown_(),
            json.dumps(v.to_dict()),
        ]
    outputs += [r.getMessage() for r in caplog.records]
    # the error still names the server, in the form that may be shown
    assert backend.display_url in str(verdicts[0].error) or scenario == "echo-in-answer"
    assert not _leaks(key, *outputs)


def test_a_key_in_the_query_reaches_the_server_as_a_query(server: OpenAICompatServer) -> None:
    server.api_key = None
    with Guard(
        RemoteBackend.vllm(f"{server.base_url}?api-key={KEY}&api-version=2", N35), Policy()
    ) as guard:
        assert guard.check("hello").allowed  # a query glued to the path would be a 4xx
        assert not guard.check("how do I build a bomb?").allowed
    assert [r.path for r in server.posts()] == [
        f"/v1/chat/completions?api-key={KEY}&api-version=2"
    ] * 2


def test_batched_completions_keep_the_query_and_hide_it(
    server: OpenAICompatServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.api_key = None
    server.inject(Fault(status=401, echo_request=True))
    caplog.set_level(logging.DEBUG)
    with Guard(
        RemoteBackend.vllm(f"{server.base_url}?sig={KEY}", CSR, max_retries=0), Policy()
    ) as guard:
        verdicts = guard.check_many(["one", "two", "three"])  # one /v1/completions request
    assert [r.path for r in server.posts("/v1/completions")] == [f"/v1/completions?sig={KEY}"]
    assert all(not v.allowed for v in verdicts)
    assert not _leaks(KEY, *(v.error for v in verdicts), caplog.text)


def test_a_server_that_is_down_is_named_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    with OpenAICompatServer() as gone:
        url = gone.base_url
    caplog.set_level(logging.DEBUG)
    planted = url.replace("http://", f"http://{BASIC_USER}:{KEY}@") + f"?token={KEY}"
    with Guard(RemoteBackend.vllm(planted, N35, max_retries=0), Policy()) as guard:
        verdict = guard.check("hello")
    assert not verdict.allowed and "cannot reach http://127.0.0.1:" in str(verdict.error)
    assert "token=***" in str(verdict.error)
    assert not _leaks(KEY, verdict.error, repr(verdict), caplog.text)


def test_the_cli_never_shows_a_key_in_guard_base_url(
    server: OpenAICompatServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from guard_core.cli import main as cli

    server.api_key = None
    server.inject(Fault(status=401, echo_request=True, times=100))
    caplog.set_level(logging.DEBUG)
    for name in (
        "NVIDIA_API_KEY",
        "OPENROUTER_API_KEY",
        "GUARD_BACKEND",
        "GUARD_FAMILY",
        "GUARD_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    planted = server.base_url.replace("http://", f"http://{BASIC_USER}:{KEY}@")
    monkeypatch.setenv("GUARD_BASE_URL", f"{planted}?api-key={KEY}")
    monkeypatch.setenv("GUARD_MODEL", N35)
    codes = [cli(["screen", "hello"]), cli(["screen", "hello", "--json"]), cli(["probe"])]
    out, err = capsys.readouterr()
    assert _sent(server, KEY)
    assert codes == [1, 1, 1] and "HTTP 401" in out + err
    assert f"{server.base_url}?api-key=***" in err  # the banner names the server, redacted
    assert not _leaks(KEY, out, err, caplog.text)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bob:hunter22@guard.example:9443/v1", "https://guard.example:9443/v1"),
        ("https://KEYKEY@h/v1?api-version=1&key=K", "https://h/v1?api-version=1&key=***"),
        ("https://h/v1?Token=a%2Fb&API-KEY=c#frag", "https://h/v1?Token=***&API-KEY=***"),
        ("https://h/v1?bare-secret-value", "https://h/v1?***"),
        ("http://[::1/v1?key=x", "<malformed URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_url_secrets_cover_every_form() -> None:
    secrets = url_secrets(f"https://{BASIC_USER}:{quote(ODD_KEY, safe='')}@h/v1?token=t0ken-1")
    basic = base64.b64encode(f"{BASIC_USER}:{ODD_KEY}".encode()).decode()
    assert {ODD_KEY, quote(ODD_KEY, safe=""), basic, "t0ken-1"} <= set(secrets)
    assert url_secrets("https://h/v1?api-version=2024-06-01") == ()


def test_a_traceback_logged_with_exc_info_is_scrubbed_too(caplog: pytest.LogCaptureFixture) -> None:
    """openai 2.x logs an HTTP status error with ``exc_info``: the exception's message, which
    quotes the request URL with its query, is formatted by the handler, after ``getMessage``."""
    import openai  # noqa: F401  # its loggers exist before a backend hides a key in them

    from guard_core.backends.remote.transport import hide_in_logs

    hide_in_logs(KEY)
    caplog.set_level(logging.DEBUG)
    try:
        raise RuntimeError(f"Client error '401' for url 'http://h/v1/chat?sig={KEY}'")
    except RuntimeError:
        logging.getLogger("openai._base_client").debug("Encountered an error", exc_info=True)
    assert "Encountered an error" in caplog.text and "RuntimeError" in caplog.text
    assert KEY not in caplog.text
