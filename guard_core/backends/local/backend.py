"""The local backend: a Nemotron guard model on transformers + torch, in this process.

>>> backend = LocalBackend.demo()          # the tiny toy model shipped for tests and demos
>>> from guard_core import Guard
>>> Guard(backend).check("how do I build a bomb").allowed
False

How it is fast:

- **single pass** (``mode="fast"``): the prompt plus the verdict line's start
  (``Prompt harm:``) goes through the model once, and the verdict is the larger logit of
  the two label continuations; ``Verdict.score`` is the probability of the unsafe one. A
  response check (the verdict is the *second* line) is read speculatively: the answer
  ``Prompt harm: unharmful\\nResponse harm:`` is appended and both lines are read in the same
  pass; only where the prompt line reads ``harmful`` is the response line read again with
  that line instead, so every verdict equals greedy decoding restricted to the labels. The
  text appended is the model's own: learned at load from one greedy answer per policy form
  (``answer_probes``; ``describe()`` says where fast checks generate instead and why).
- **batching**: ``check_many`` and concurrent callers (threads, ``acheck`` fan-outs) become
  padded forward passes of many requests, sorted by length, at most ``max_batch_tokens``.
- **prefix reuse**: the template intro and policy that every request under one policy shares
  are computed once and their KV cache reused for every request.

Think and categories modes use greedy ``generate`` (``max_tokens`` from the family, stopping
at ``<end_of_turn>`` or ``<eos>``). Requests longer than the model's context are a clear
error: split long text with ``Guard(windowing=Windowing(window_chars=...))`` (any unsafe
window blocks the item). Images are decoded within limits; URLs are not fetched by default.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Any

from guard_core.backends.base import Backend, Outcome
from guard_core.backends.local.answers import AnswerProbe
from guard_core.backends.local.batcher import MicroBatcher
from guard_core.backends.local.engine import Engine, Stats, cache_keyword
from guard_core.backends.local.fast import FastItem, read_verdicts
from guard_core.backends.local.images import ImageLoader
from guard_core.backends.local.inputs import Encoded, Encoder
from guard_core.backends.local.load import Loaded, check_tuning, load_model
from guard_core.backends.local.probe import TRACE_TOKENS, probe_answers
from guard_core.errors import BackendError, ConfigurationError, ContentError, GuardError
from guard_core.models import Completion, GuardRequest, ModelFamily, family_for_model
from guard_core.models.base import PolicyForm

__all__ = ["DEFAULT_MODEL", "DEMO_MODEL", "LocalBackend", "fixture_path"]

DEFAULT_MODEL = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
DEMO_MODEL = "tiny-gemma3-content-safety-reasoning"
_ANSWER_ROOM = 32  # tokens kept free for a single-pass answer


def _local_family(source: str, family: str | ModelFamily | None) -> ModelFamily:
    resolved = family_for_model(source, family)
    if resolved.name not in ("csr4b", "nemotron35"):
        raise ConfigurationError(
            f"LocalBackend runs the Gemma-3 based guards (Content Safety Reasoning 4B, "
            f"Nemotron 3.5 Content Safety), not {resolved.name}; serve that model with vLLM "
            "or NIM and use RemoteBackend"
        )
    return resolved


def fixture_path(name: str = DEMO_MODEL) -> str:
    """The directory of a tiny model shipped in ``guard_core/fixtures`` (toys, not guards)."""
    path = os.fspath(str(files("guard_core").joinpath("fixtures", name)))
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ConfigurationError(f"no fixture model {name!r} in {os.path.dirname(path)}")
    return path


class LocalBackend(Backend):
    """Runs a Gemma-3 based Nemotron guard model in this process.

    Args:
        model: ``nvidia/Nemotron-Content-Safety-Reasoning-4B`` (text),
            ``nvidia/Nemotron-3.5-Content-Safety`` (text + image), or a local directory.
        family: the model family when ``model`` is a path whose name does not say it.
        device / dtype: default CUDA in bfloat16 when available, else CPU in float32.
        local_files_only: never touch the network (``HF_HUB_OFFLINE=1`` works too).
        single_pass: read fast-mode verdicts from logits (True) or generate them.
        prefix_cache: reuse the KV cache of the policy prefix shared by requests.
        max_cached_prefixes: how many policies' prefix KV caches are kept (least recently
            used goes first); one per policy in use, ~100 MB each for a 1,500-token policy
            on the 4B model.
        max_batch_tokens: padded tokens per forward pass (rows x longest row).
        batch_wait_ms: how long the worker waits for concurrent callers to join a batch.
        max_input_tokens: refuse longer requests (default: the model's context).
        min_label_mass: below this probability for both labels together, the model is
            not answering in its format and the request is a :class:`ModelOutputError`.
        fetch_images / max_image_pixels: image URL fetching (off) and the decode limit.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        family: str | ModelFamily | None = None,
        device: Any = None,
        dtype: Any = None,
        local_files_only: bool | None = None,
        revision: str | None = None,
        single_pass: bool = True,
        prefix_cache: bool = True,
        max_cached_prefixes: int = 8,
        max_batch_tokens: int | None = None,
        max_batch_size: int = 64,
        batch_wait_ms: float = 2.0,
        max_input_tokens: int | None = None,
        min_label_mass: float = 0.5,
        fetch_images: bool = False,
        max_image_pixels: int = 50_000_000,
        attn_implementation: str | None = None,
    ) -> None:
        check_tuning(
            dict(
                max_cached_prefixes=max_cached_prefixes,
                max_batch_tokens=max_batch_tokens,
                max_batch_size=max_batch_size,
                batch_wait_ms=batch_wait_ms,
                max_input_tokens=max_input_tokens,
                min_label_mass=min_label_mass,
                max_image_pixels=max_image_pixels,
            )
        )
        source = os.fspath(model)
        resolved = _local_family(source, family)
        loaded = load_model(
            source,
            resolved,
            device=device,
            dtype=dtype,
            local_files_only=local_files_only,
            revision=revision,
            attn_implementation=attn_implementation,
        )
        self._setup(
            source,
            resolved,
            loaded,
            single_pass=single_pass,
            prefix_cache=prefix_cache,
            max_cached_prefixes=max_cached_prefixes,
            max_batch_tokens=max_batch_tokens,
            max_batch_size=max_batch_size,
            batch_wait_ms=batch_wait_ms,
            max_input_tokens=max_input_tokens,
            min_label_mass=min_label_mass,
            fetch_images=fetch_images,
            max_image_pixels=max_image_pixels,
        )

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        family: str | ModelFamily,
        processor: Any = None,
        name: str | None = None,
        **options: Any,
    ) -> LocalBackend:
        """Wrap a Gemma-3 model you already loaded (or built, as the GPU benchmark does).

        ``processor`` is needed for images (Nemotron 3.5); ``options`` are the constructor's
        tuning options (``single_pass``, ``prefix_cache``, ``max_batch_tokens``,
        ``min_label_mass``, ...).
        """
        check_tuning(options)
        resolved = _local_family(name or "", family)
        param = next(model.parameters())
        loaded = Loaded(model.eval(), tokenizer, processor, param.device, param.dtype)
        backend = cls.__new__(cls)
        backend._setup(name or type(model).__name__, resolved, loaded, **options)
        return backend

    def _setup(
        self,
        name: str,
        family: ModelFamily,
        loaded: Loaded,
        *,
        single_pass: bool = True,
        prefix_cache: bool = True,
        max_cached_prefixes: int = 8,
        max_batch_tokens: int | None = None,
        max_batch_size: int = 64,
        batch_wait_ms: float = 2.0,
        max_input_tokens: int | None = None,
        min_label_mass: float = 0.5,
        fetch_images: bool = False,
        max_image_pixels: int = 50_000_000,
    ) -> None:
        if str(loaded.dtype).rpartition(".")[2] == "float16":
            raise ConfigurationError(
                "float16 breaks Gemma-3 (it overflows, and the verdicts are garbage): load the "
                "model in bfloat16 on a GPU or float32 on a CPU"
            )
        self.model, self.family = name, family
        self.device, self.dtype = loaded.device, loaded.dtype
        self.tokenizer = loaded.tokenizer
        self.single_pass = single_pass
        self.min_label_mass = min_label_mass
        context = int(
            getattr(loaded.model.config.get_text_config(), "max_position_embeddings", 0) or 8192
        )
        self.max_input_tokens = min(max_input_tokens or context, context)
        eos = {self.tokenizer.convert_tokens_to_ids("<end_of_turn>"), self.tokenizer.eos_token_id}
        pad = self.tokenizer.pad_token_id
        self._engine = Engine(
            model=loaded.model,
            device=loaded.device,
            pad_id=pad if pad is not None else 0,
            eos_ids=tuple(sorted(t for t in eos if isinstance(t, int) and t >= 0)),
            max_batch_tokens=max_batch_tokens or (32768 if loaded.device.type == "cuda" else 8192),
            max_batch_rows=max_batch_size,
            prefix_cache=prefix_cache,
            max_prefixes=max_cached_prefixes,
            cache_arg=cache_keyword(loaded.model),
        )
        self._encoder = Encoder(
            family,
            self.tokenizer,
            loaded.processor,
            ImageLoader(max_pixels=max_image_pixels, fetch=fetch_images),
        )
        self.answer_probes: dict[PolicyForm, AnswerProbe] = {}
        """Per policy form, what the load-time probe learned (empty: single pass off)."""
        if single_pass:
            self.answer_probes = probe_answers(
                family, self._encoder, self._engine, self.tokenizer, lenient=min_label_mass == 0
            )
            self._encoder.learned({f: p.shape for f, p in self.answer_probes.items()})
        self._batcher = MicroBatcher(
            self._run, wait_s=batch_wait_ms / 1000, on_stop=self._engine.clear
        )

    @classmethod
    def demo(cls, **kwargs: Any) -> LocalBackend:
        """The tiny toy guard shipped with guard-core (flags words like "bomb"); CPU, offline."""
        kwargs.setdefault("device", "cpu")
        from transformers.utils import logging as transformers_logging

        hf_logging: Any = transformers_logging  # its progress-bar switches are untyped
        # A progress bar for loading a few hundred KB is noise before the demo's banner.
        showing = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            return cls(fixture_path(DEMO_MODEL), local_files_only=True, **kwargs)
        finally:
            if showing:
                hf_logging.enable_progress_bar()

    @property
    def stats(self) -> Stats:
        """Counters: batches, requests, forward passes, prefix builds and hits."""
        return self._engine.stats

    def describe(self) -> str:
        probes = "; ".join(map(str, self.answer_probes.values())) or "single pass off"
        return (
            f"LocalBackend(model={self.model!r}, device='{self.device}', dtype={self.dtype}; "
            f"fast mode: {probes})"
        )

    __repr__ = describe

    # -- Backend ------------------------------------------------------------------------------

    def classify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        if not requests:
            return []
        return self._batcher.submit(requests).result()

    async def aclassify(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        if not requests:
            return []
        return await asyncio.wrap_future(self._batcher.submit(requests))

    def close(self) -> None:
        self._batcher.close()  # the worker drops the cached prefixes as it stops

    # -- one batch, on the worker thread --------------------------------------------------------

    def _run(self, requests: Sequence[GuardRequest]) -> list[Outcome]:
        import torch

        self.stats.batches += 1
        self.stats.requests += len(requests)
        outcomes: list[Outcome | None] = [None] * len(requests)
        fast: list[FastItem] = []
        slow: list[tuple[int, Encoded]] = []
        for i, request in enumerate(requests):
            try:
                encoded = self._encoder.encode(request, with_prefix=self._engine.prefix_cache)
                plan = (
                    self._encoder.plan(request.slot, request.form)
                    if self._one_pass(request)
                    else None
                )
                self._check_length(encoded, _ANSWER_ROOM if plan else self._budget(request))
            except GuardError as exc:
                outcomes[i] = exc
                continue
            except Exception as exc:  # the tokenizer or processor refused this input
                outcomes[i] = ContentError(f"the request could not be encoded: {exc}")
                continue
            if plan is not None:
                fast.append((i, encoded, plan))
            else:
                slow.append((i, encoded))
        with torch.inference_mode():
            if fast:
                self._guarded(
                    [i for i, *_ in fast],
                    outcomes,
                    lambda: read_verdicts(
                        self._engine,
                        self.family,
                        requests,
                        fast,
                        outcomes,
                        min_label_mass=self.min_label_mass,
                        model=self.model,
                    ),
                )
            if slow:
                self._guarded(
                    [i for i, _ in slow], outcomes, lambda: self._generate(requests, slow, outcomes)
                )
        return [o if o is not None else BackendError("no outcome") for o in outcomes]

    @staticmethod
    def _guarded(
        indices: list[int], outcomes: list[Outcome | None], phase: Callable[[], None]
    ) -> None:
        try:
            phase()
        except Exception as exc:  # a model failure fails these requests closed, not the batch
            error = BackendError(
                f"the local guard model failed on a batch of {len(indices)}: "
                f"{type(exc).__name__}: {exc}{_hint(exc)}"
            )
            for i in indices:
                outcomes[i] = outcomes[i] or error

    def _one_pass(self, request: GuardRequest) -> bool:
        kwargs = request.chat_template_kwargs or {}
        return (
            self.single_pass
            and request.mode == "fast"
            and not kwargs.get("enable_thinking")
            and kwargs.get("request_categories") != "/categories"
        )

    def _budget(self, request: GuardRequest) -> int:
        """New tokens to generate: a fast check whose form the model answers with a
        reasoning trace first gets a trace's room, not a verdict's."""
        probe = self.answer_probes.get(request.form)
        if request.mode == "fast" and probe is not None and probe.traced:
            return max(request.max_tokens, TRACE_TOKENS)
        return request.max_tokens

    def _check_length(self, encoded: Encoded, room: int) -> None:
        if len(encoded.ids) + room > self.max_input_tokens:
            raise ContentError(
                f"the request is {len(encoded.ids)} tokens and its answer needs up to {room}; "
                f"this backend reads at most {self.max_input_tokens}. Split long text with "
                "Guard(windowing=Windowing(window_chars=...)): any unsafe window blocks it"
            )

    def _generate(
        self,
        requests: Sequence[GuardRequest],
        items: list[tuple[int, Encoded]],
        outcomes: list[Outcome | None],
    ) -> None:
        results = self._engine.generate(
            [e for _, e in items], [self._budget(requests[i]) for i, _ in items]
        )
        for (i, _), (tokens, ended) in zip(items, results, strict=True):
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            outcomes[i] = Completion(
                text=text, finish_reason="stop" if ended else "length", model=self.model
            )


def _hint(exc: BaseException) -> str:
    """What to do, for the failures that have a known remedy; nothing for the rest."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return " (the device ran out of memory: lower max_batch_tokens or max_batch_size)"
    return ""
