"""The remote backend: any OpenAI-compatible endpoint (NVIDIA NIM, OpenRouter, vLLM).

>>> backend = RemoteBackend.vllm("http://127.0.0.1:8000/v1",
...                              "nvidia/Nemotron-Content-Safety-Reasoning-4B")
>>> backend.family.name
'csr4b'
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from guard_core.backends.base import Backend, Outcome
from guard_core.backends.remote.batched import BatchedCompletions, LoopState, aread
from guard_core.backends.remote.probe import ProbeResult, probe_requests, probe_result
from guard_core.backends.remote.sdk import http_library
from guard_core.backends.remote.transport import (
    RateLimiter,
    Redactor,
    hide_in_logs,
    map_error,
    redact_url,
    retry_delay,
    split_url,
    url_secrets,
)
from guard_core.backends.remote.wire import chat_body, chat_completion
from guard_core.errors import (
    BackendError,
    BackendUnavailable,
    ConfigurationError,
    GuardError,
    MissingDependencyError,
)
from guard_core.models import Completion, GuardRequest, ModelFamily, family_for_model

__all__ = ["ProbeResult", "RemoteBackend"]

NIM_URL = "https://integrate.api.nvidia.com/v1"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
T = TypeVar("T")


class RemoteBackend(BatchedCompletions, Backend):
    """Asks a guard model behind an OpenAI-compatible API, with the ``openai`` SDK.

    Real sync and async clients with connection reuse; at most ``max_concurrency``
    requests in flight; retries on 408/429/5xx and refused connections, honouring
    ``Retry-After`` up to ``max_retry_wait``; an optional client-side ``requests_per_minute``;
    identical in-flight requests share one call. With ``batch_completions`` (default
    ``"auto"``), many prompts of a client-rendered family go in one ``/v1/completions``
    request (vLLM, NIM), falling back to concurrent chat calls where that is not served;
    with ``logprobs`` (default True) those requests ask for the answer tokens' top
    log-probabilities and ``Verdict.score`` is the unsafe label's probability, as the local
    backend gives it (a server refusing the field is asked without it). Chat calls carry no
    score.

    The API key, and credentials in the URL (``https://user:KEY@host/v1``,
    ``?api-key=KEY``: the query is sent with every request), never appear in a repr, log
    line, error or audit record: those show ``display_url``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        family: str | ModelFamily | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        max_concurrency: int = 16,
        requests_per_minute: float | None = None,
        batch_completions: bool | Literal["auto"] = "auto",
        batch_size: int = 64,
        logprobs: bool = True,
        missing_key_hint: str | None = None,
        default_headers: dict[str, str] | None = None,
    ) -> None:
        try:
            import openai
        except ImportError:
            raise MissingDependencyError("openai", "openai") from None
        http = http_library()
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency={max_concurrency!r}: give 1 or more")
        self.base_url = base_url.rstrip("/")
        self.display_url = redact_url(self.base_url)
        self.model = model
        self.family = family_for_model(model, family)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.max_concurrency = max_concurrency
        self.batch_size = batch_size
        self.logprobs = logprobs
        self._batch: bool | Literal["auto"] = (
            batch_completions
            if self.family.renders_prompt
            and type(self.family).raw_prompt is not ModelFamily.raw_prompt
            else False
        )
        self._missing_key = missing_key_hint if not api_key else None
        secrets = (api_key, *url_secrets(self.base_url))
        self._redact = Redactor(*secrets)
        for secret in secrets:
            hide_in_logs(secret)
        self._limiter = (
            RateLimiter(requests_per_minute) if requests_per_minute is not None else None
        )
        endpoint, query = split_url(self.base_url)
        self._client_args: dict[str, Any] = {
            "base_url": endpoint,
            "api_key": api_key or "EMPTY",
            "timeout": http.Timeout(timeout, connect=connect_timeout),
            "max_retries": 0,
            "default_headers": default_headers,
            "default_query": query or None,
        }
        self._sync = openai.OpenAI(**self._client_args)
        self._pool: ThreadPoolExecutor | None = None
        self._gate = threading.BoundedSemaphore(max_concurrency)
        self._inflight: dict[str, Future[Outcome]] = {}
        self._inflight_lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = (
            weakref.WeakKeyDictionary()
        )

    # -- presets -------------------------------------------------------------------------

    @classmethod
    def nim(
        cls,
        model: str = "nvidia/nemotron-content-safety-reasoning-4b",
        api_key: str | None = None,
        **kwargs: Any,
    ) -> RemoteBackend:
        """The NVIDIA API catalog (build.nvidia.com); key from ``NVIDIA_API_KEY``."""
        kwargs.setdefault(
            "missing_key_hint",
            "NVIDIA_API_KEY is not set: export NVIDIA_API_KEY="
            "nvapi-... (get a key at build.nvidia.com) or pass api_key=",
        )
        return cls(
            kwargs.pop("base_url", NIM_URL),
            model,
            api_key or os.environ.get("NVIDIA_API_KEY"),
            **kwargs,
        )

    @classmethod
    def openrouter(
        cls,
        model: str = "nvidia/nemotron-3.5-content-safety",
        api_key: str | None = None,
        **kwargs: Any,
    ) -> RemoteBackend:
        """OpenRouter (Nemotron 3.5 only); key from ``OPENROUTER_API_KEY``."""
        kwargs.setdefault(
            "missing_key_hint",
            "OPENROUTER_API_KEY is not set: export OPENROUTER_API_KEY=sk-or-... or pass api_key=",
        )
        if family_for_model(model, kwargs.get("family")).name != "nemotron35":
            # before any client is built: nothing to close on the way out
            raise ConfigurationError(
                f"OpenRouter serves only nvidia/nemotron-3.5-content-safety, not {model!r}; "
                "use RemoteBackend.nim() or .vllm() for the other guard models"
            )
        return cls(
            kwargs.pop("base_url", OPENROUTER_URL),
            model,
            api_key or os.environ.get("OPENROUTER_API_KEY"),
            **kwargs,
        )

    @classmethod
    def vllm(
        cls, base_url: str, model: str, api_key: str | None = None, **kwargs: Any
    ) -> RemoteBackend:
        """A self-hosted vLLM or NIM server (``http://HOST:PORT/v1``)."""
        return cls(base_url, model, api_key, **kwargs)

    def describe(self) -> str:
        return f"RemoteBackend({self.display_url}, model={self.model!r})"

    __repr__ = describe

    # -- sync -------------------------------------------------------------------------------

    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        if self._missing_key:
            return [BackendError(self._missing_key) for _ in requests]
        if self._batch and len(requests) > 1:
            batched = self._classify_batched(requests)
            if batched is not None:
                return batched
        if len(requests) == 1:
            return [self._coalesced(requests[0])]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="guard")
        return list(self._pool.map(self._coalesced, requests))

    def _coalesced(self, request: GuardRequest) -> Outcome:
        with self._inflight_lock:
            shared = self._inflight.get(request.key)
            if shared is None:
                mine: Future[Outcome] = Future()
                self._inflight[request.key] = mine
        if shared is not None:
            return shared.result()
        try:
            outcome = self._with_retries(lambda: self._chat(request))
        except BaseException as exc:
            outcome = BackendUnavailable(f"interrupted: {exc!r}")
            raise
        finally:
            with self._inflight_lock:
                del self._inflight[request.key]
            mine.set_result(outcome)
        return outcome

    def _with_retries(self, call: Callable[[], T]) -> T | GuardError:
        attempt = 0
        while True:
            if self._limiter is not None:
                time.sleep(self._limiter.reserve())
            with self._gate:
                try:
                    return call()
                except Exception as exc:
                    error = self._map(exc)
            delay = retry_delay(error, attempt, self.max_retries, self.max_retry_wait)
            if delay is None:
                return self._final(error, attempt)
            time.sleep(delay)
            attempt += 1

    def _chat(self, request: GuardRequest) -> Completion:
        resource = self._sync.chat.completions.with_streaming_response
        return self._completion(self._read(resource.create(**self._chat_args(request))))

    def _read(self, streamed: Any) -> Any:
        # Read the body chunk by chunk against one deadline: the HTTP client's timeout is per
        # read, so a server trickling bytes could otherwise hold a sync check for ever.
        deadline = time.monotonic() + self.timeout
        with streamed as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if time.monotonic() > deadline:
                    raise TimeoutError(f"answer not complete within {self.timeout:g}s")
        return json.loads(body)

    # -- async ------------------------------------------------------------------------------

    async def aclassify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        if self._missing_key:
            return [BackendError(self._missing_key) for _ in requests]
        if self._batch and len(requests) > 1:
            batched = await self._aclassify_batched(requests)
            if batched is not None:
                return batched
        state = self._state()
        return list(await asyncio.gather(*(self._acoalesced(state, r) for r in requests)))

    async def _acoalesced(self, state: LoopState, request: GuardRequest) -> Outcome:
        shared = state.inflight.get(request.key)
        if shared is not None:
            return await asyncio.shield(shared)
        mine: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        state.inflight[request.key] = mine
        try:
            outcome = await self._awith_retries(state, lambda: self._achat(state, request))
            mine.set_result(outcome)
            return outcome
        except BaseException as exc:
            mine.set_result(BackendUnavailable(f"the request was cancelled: {exc!r}"))
            raise
        finally:
            del state.inflight[request.key]

    async def _awith_retries(
        self, state: LoopState, call: Callable[[], Awaitable[T]]
    ) -> T | GuardError:
        attempt = 0
        while True:
            if self._limiter is not None:
                await asyncio.sleep(self._limiter.reserve())
            async with state.gate:
                try:
                    async with asyncio.timeout(self.timeout):
                        return await call()
                except Exception as exc:
                    error = self._map(exc)
            delay = retry_delay(error, attempt, self.max_retries, self.max_retry_wait)
            if delay is None:
                return self._final(error, attempt)
            await asyncio.sleep(delay)
            attempt += 1

    async def _achat(self, state: LoopState, request: GuardRequest) -> Completion:
        resource = state.client.chat.completions.with_streaming_response
        return self._completion(await aread(resource.create(**self._chat_args(request))))

    def _state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            import openai

            state = LoopState(
                openai.AsyncOpenAI(**self._client_args), asyncio.Semaphore(self.max_concurrency)
            )
            self._loops[loop] = state
        return state

    # -- shared pure steps --------------------------------------------------------------------

    def _chat_args(self, request: GuardRequest) -> dict[str, Any]:
        return chat_body(self.model, request)

    def _completion(self, data: Any) -> Completion:
        return chat_completion(data, model=self.model, redact=self._redact)

    def _map(self, exc: BaseException) -> GuardError:
        return map_error(
            exc,
            base_url=self.display_url,
            model=self.model,
            timeout=self.timeout,
            redact=self._redact,
        )

    def _final(self, error: GuardError, attempt: int) -> GuardError:
        if attempt:
            error.args = (f"{error.args[0]} (after {attempt + 1} attempts)",)
        return error

    # -- probe and lifecycle --------------------------------------------------------------

    def probe(self) -> ProbeResult:
        """Check the endpoint answers in the family's format; for 3.5, that a known-unsafe
        probe with categories requested returns a categories line (a gateway that drops
        ``chat_template_kwargs`` fails this)."""
        start = time.perf_counter()
        requests = probe_requests(self.family)
        return probe_result(self.family, self.model, requests, self.classify(requests), start)

    def close(self) -> None:
        self._sync.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def aclose(self) -> None:
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.close()
        self.close()
