"""The torch side of the local backend: batched forward passes, prefix KV reuse, generate.

Single-pass verdicts use **right padding**: every row is ``[shared prefix | own tokens | pad]``,
so each real token sees exactly what it would see alone (causal attention never looks right,
and the sliding-window layers count the same real tokens), and the verdict logits are read at
each row's own positions. Only the log-probabilities of the few label tokens asked for leave
the device (the vocabulary's log-sum-exp is taken there), not a vocabulary-wide row.

The shared prefix is run once per policy and its KV cache reused for every batch. A batch
reads it through a *view*: each layer returns ``prefix + this batch's states`` to attention
and keeps nothing, so a forward pass never holds every layer's batch-wide KV at once (on the
4B model that is ~4 KB per token per layer, gigabytes for a full batch) and the cached
tensors are never modified. Generation (think / categories modes) uses ``model.generate``
with the usual left padding, and reuses the cached prefix when a batch holds one request.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from guard_core.backends.local.inputs import Encoded

__all__ = ["Engine", "Reads", "Stats", "cache_keyword"]


def cache_keyword(model: Any) -> str:
    """The name under which this transformers release takes a KV cache: ``cache`` from 5.24
    (where ``past_key_values`` is deprecated), ``past_key_values`` before. Read once, at load
    time, from the signature of the decoder's ``forward``; ``generate`` follows the same
    release's naming."""
    import inspect

    forward = model.model.forward
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


@dataclass
class Stats:
    """Counters, for tests and benchmarks."""

    batches: int = 0
    requests: int = 0
    forward_passes: int = 0
    generate_calls: int = 0
    prefix_builds: int = 0
    prefix_hits: int = 0
    tokens_computed: int = 0


@dataclass(frozen=True)
class Reads:
    """One row of a single pass: its inputs, the answer tokens appended, where to read,
    and which next tokens' log-probabilities to read there."""

    encoded: Encoded
    answer: tuple[int, ...]
    positions: tuple[int, ...]  # indices into ids + answer whose next-token logits we want
    tokens: tuple[int, ...]  # the token ids whose log-probabilities are read at each position
    use_prefix: bool = True


@dataclass
class _Prefix:
    ids: tuple[int, ...]
    cache: Any

    def expand(self, batch: int, *, keep: bool = True) -> Any:
        """A cache for ``batch`` rows that starts with this prefix; the original is untouched
        (layers replace their tensors on update, so sharing them is safe). With
        ``keep=False`` the layers keep nothing a forward pass adds (see the module doc)."""
        new = copy.copy(self.cache)
        new.layers = []
        for layer in self.cache.layers:
            twin = copy.copy(layer)
            if getattr(layer, "is_initialized", False) and layer.keys is not None:
                twin.keys = layer.keys.expand(batch, -1, -1, -1)
                twin.values = layer.values.expand(batch, -1, -1, -1)
                if not keep:
                    twin.__class__ = _view_class(type(layer))
            new.layers.append(twin)
        return new


_VIEW_CLASSES: dict[type, type] = {}


def _view_class(layer_class: type) -> type:
    """``layer_class`` whose ``update`` returns ``kept + new`` states and stores nothing.

    A subclass rather than a wrapper, so the cache's ``isinstance`` checks still hold; its
    masks are sized before any update (from the prefix length), which is what we want."""
    found = _VIEW_CLASSES.get(layer_class)
    if found is None:

        def update(
            self: Any, key_states: Any, value_states: Any, *args: Any, **kwargs: Any
        ) -> tuple[Any, Any]:
            import torch

            return (
                torch.cat([self.keys, key_states], dim=-2),
                torch.cat([self.values, value_states], dim=-2),
            )

        found = _VIEW_CLASSES[layer_class] = type(
            f"PrefixView{layer_class.__name__}", (layer_class,), {"update": update}
        )
    return found


@dataclass
class Engine:
    """Runs one loaded Gemma-3 model; used from a single thread at a time."""

    model: Any
    device: Any
    pad_id: int
    eos_ids: tuple[int, ...]
    max_batch_tokens: int = 8192
    max_batch_rows: int = 64
    prefix_cache: bool = True
    max_prefixes: int = 8
    cache_arg: str = "past_key_values"  # see cache_keyword()
    stats: Stats = field(default_factory=Stats)
    _prefixes: OrderedDict[tuple[int, ...], _Prefix] = field(default_factory=OrderedDict)

    # -- prefix cache -------------------------------------------------------------------------

    def prefix(self, ids: tuple[int, ...]) -> _Prefix | None:
        if not ids or not self.prefix_cache:
            return None
        found = self._prefixes.get(ids)
        if found is not None:
            self._prefixes.move_to_end(ids)
            self.stats.prefix_hits += 1
            return found
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        tokens = torch.tensor([ids], device=self.device)
        self.model.model(
            input_ids=tokens,
            attention_mask=torch.ones_like(tokens),
            use_cache=True,
            **{self.cache_arg: cache},
        )
        self.stats.prefix_builds += 1
        self.stats.tokens_computed += len(ids)
        found = self._prefixes[ids] = _Prefix(ids, cache)
        if len(self._prefixes) > self.max_prefixes:
            self._prefixes.popitem(last=False)
        return found

    def clear(self) -> None:
        """Drop the cached prefixes (their KV memory); call from the model's thread."""
        self._prefixes.clear()

    # -- single pass ----------------------------------------------------------------------

    def read(self, rows: Sequence[Reads]) -> list[Any]:
        """Per row, a float32 CPU tensor ``[len(positions), len(tokens)]``: the
        log-probability of each of its ``tokens`` next, at each of its ``positions``."""
        out: list[Any] = [None] * len(rows)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, row in enumerate(rows):
            key = row.encoded.prefix if row.use_prefix and self.prefix_cache else ()
            groups.setdefault(key, []).append(i)
        for key, members in groups.items():
            prefix = self.prefix(key)
            skip = len(prefix.ids) if prefix is not None else 0
            members.sort(key=lambda i: len(rows[i].encoded.ids) + len(rows[i].answer))
            widths = {i: len(rows[i].encoded.ids) + len(rows[i].answer) - skip for i in members}
            for chunk in self._chunks(members, widths):
                for i, result in zip(
                    chunk, self._forward([rows[i] for i in chunk], prefix), strict=True
                ):
                    out[i] = result
        return out

    def _chunks(self, members: list[int], width: dict[int, int]) -> list[list[int]]:
        chunks: list[list[int]] = []
        current: list[int] = []
        for i in members:  # sorted by width: the newest member is the widest
            if current and (
                (len(current) + 1) * width[i] > self.max_batch_tokens
                or len(current) >= self.max_batch_rows
            ):
                chunks.append(current)
                current = []
            current.append(i)
        return [*chunks, current] if current else chunks

    def _forward(self, rows: Sequence[Reads], prefix: _Prefix | None) -> list[Any]:
        import torch

        skip = len(prefix.ids) if prefix is not None else 0
        seqs = [list(r.encoded.ids[skip:]) + list(r.answer) for r in rows]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), skip + width), dtype=torch.long)
        mask[:, :skip] = 1
        for r, seq in enumerate(seqs):
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, skip : skip + len(seq)] = 1
        kwargs: dict[str, Any] = {}
        pixels = [r.encoded.pixel_values for r in rows if r.encoded.pixel_values is not None]
        if pixels:
            kwargs["pixel_values"] = torch.cat(pixels).to(self.device, self.model.dtype)
            # Gemma-3 indexes image blocks by absolute position: cover the prefix too.
            types = torch.zeros((len(rows), skip + width), dtype=torch.long)
            for r, row in enumerate(rows):
                if row.encoded.token_type_ids is not None:
                    own = row.encoded.token_type_ids
                    types[r, : len(own)] = torch.tensor(own)
            kwargs["token_type_ids"] = types.to(self.device)
        cache = prefix.expand(len(rows), keep=False) if prefix is not None else None
        hidden = self.model.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            use_cache=cache is not None,
            **{self.cache_arg: cache},
            **kwargs,
        ).last_hidden_state
        self.stats.forward_passes += 1
        self.stats.tokens_computed += sum(len(s) for s in seqs)
        picked = [hidden[r, [p - skip for p in row.positions]] for r, row in enumerate(rows)]
        wanted = [row.tokens for row in rows for _ in row.positions]
        most = max(len(t) for t in wanted)  # ragged rows repeat their last id, then are cut
        index = torch.tensor([t + t[-1:] * (most - len(t)) for t in wanted], device=self.device)
        logits = self._logits(torch.cat(picked)).float()
        logp = (logits.gather(-1, index) - logits.logsumexp(-1, keepdim=True)).cpu()
        return [
            part[:, : len(row.tokens)]
            for row, part in zip(
                rows, torch.split(logp, [len(row.positions) for row in rows]), strict=True
            )
        ]

    def _logits(self, hidden: Any) -> Any:
        import torch

        logits = self.model.get_output_embeddings()(hidden)
        cap = getattr(self.model.config.get_text_config(), "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    # -- generation ---------------------------------------------------------------------------

    def generate(
        self, rows: Sequence[Encoded], max_new: Sequence[int]
    ) -> list[tuple[list[int], bool]]:
        """Greedy continuations: (new tokens up to the end of turn, whether it ended)."""
        out: list[tuple[list[int], bool]] = [([], False)] * len(rows)
        by_budget: dict[int, list[int]] = {}
        for i, budget in enumerate(max_new):
            by_budget.setdefault(budget, []).append(i)
        for budget, members in by_budget.items():
            members.sort(key=lambda i: len(rows[i].ids))
            for chunk in self._chunks(members, {i: len(rows[i].ids) + budget for i in members}):
                for i, result in zip(
                    chunk, self._generate([rows[i] for i in chunk], budget), strict=True
                ):
                    out[i] = result
        return out

    def _generate(self, rows: Sequence[Encoded], budget: int) -> list[tuple[list[int], bool]]:
        import torch
        import transformers

        width = max(len(r.ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):  # left padding, as generate expects
            ids[r, width - len(row.ids) :] = torch.tensor(row.ids)
            mask[r, width - len(row.ids) :] = 1
        kwargs: dict[str, Any] = {}
        pixels = [r.pixel_values for r in rows if r.pixel_values is not None]
        if pixels:
            kwargs["pixel_values"] = torch.cat(pixels).to(self.device, self.model.dtype)
            types = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                if row.token_type_ids is not None:
                    types[r, width - len(row.ids) :] = torch.tensor(row.token_type_ids)
            kwargs["token_type_ids"] = types.to(self.device)
        if len(rows) == 1:
            prefix = self.prefix(rows[0].prefix)
            if prefix is not None:
                kwargs[self.cache_arg] = prefix.expand(1)
        make: Any = transformers.GenerationConfig
        config = make(
            do_sample=False,
            num_beams=1,
            max_new_tokens=budget,
            eos_token_id=list(self.eos_ids),
            pad_token_id=self.pad_id,
        )
        sequences = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            generation_config=config,
            **kwargs,
        )
        self.stats.generate_calls += 1
        results = []
        for row in sequences[:, width:].tolist():
            ends = [k for k, token in enumerate(row) if token in self.eos_ids]
            results.append((row[: ends[0]], True) if ends else (row, False))
        return results
