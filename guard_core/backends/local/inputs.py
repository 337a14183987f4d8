"""Requests to token ids for the local backend, with control tokens never forgeable.

Every id sequence is built by the model's own chat template with
``sanitize_control_tokens=True``: a control token written in untrusted text (or in a custom
policy) is encoded as plain text, and only the template's own ``<start_of_turn>`` etc. are
control tokens. Text is also passed through :func:`neutralize` first: the Gemma-3 processor
still counts a literal ``<image_soft_token>`` in the text as an image slot and crashes.

The encoder also finds the **shared prefix** of a policy (the ids every request under it
starts with) by rendering two probe requests and keeping their common start, and the
**verdict forks** used by single-pass scoring (the answer tokens before each label, as the
model writes them per policy form (see ``answers``), and the first token where the safe and
unsafe labels differ).
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from guard_core.backends.local.answers import FORMS, Line, Shape, assumed_shape
from guard_core.backends.local.images import ImageLoader
from guard_core.backends.local.tokenizer import private_tokenizer
from guard_core.errors import ConfigurationError, ContentError
from guard_core.models import GuardRequest, ModelFamily, Slot
from guard_core.models.base import PolicyForm, neutralize

__all__ = ["Encoded", "Encoder", "Fork", "VerdictPlan"]

_PROBES = ("x", "y")
_MIN_PREFIX = 8  # shorter shared starts are not worth a cache entry


@dataclass(frozen=True)
class Encoded:
    """One request as model inputs. ``prefix`` is the cached start it shares, or ()."""

    ids: tuple[int, ...]
    pixel_values: Any = None
    token_type_ids: tuple[int, ...] | None = None
    prefix: tuple[int, ...] = ()


@dataclass(frozen=True)
class Fork:
    """Answer tokens fed before a label, and the first token of each label."""

    context: tuple[int, ...]
    safe: int
    unsafe: int


@dataclass(frozen=True)
class VerdictPlan:
    """How to read one slot's verdict lines from logits: the first line, and for a
    response check the second line given the first read safe / unsafe. ``lines`` and
    ``tail`` write the answer as the model would (``text``)."""

    first: Fork
    second: tuple[Fork, Fork] | None = None
    lines: tuple[Line, ...] = ()
    tail: str = ""

    def text(self, labels: tuple[bool, ...]) -> str:
        """The answer whose verdict lines read ``labels``, in the model's own words."""
        return "".join(line.text(flag) for line, flag in zip(self.lines, labels, strict=True)) + (
            self.tail
        )


def common_start(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Encoder:
    """Builds the ids of requests for one model (tokenizer, or processor for images)."""

    def __init__(
        self,
        family: ModelFamily,
        tokenizer: Any,
        processor: Any | None,
        images: ImageLoader,
        *,
        prefix_probes: int = 64,
    ) -> None:
        self.family = family
        # Private copies whose added-token tables are built once: see _local_tokenizer.
        self.tokenizer = private_tokenizer(tokenizer)
        if processor is not None:
            shared = getattr(processor, "tokenizer", None)
            processor = copy.copy(processor)
            processor.tokenizer = (
                self.tokenizer if shared is tokenizer else private_tokenizer(shared)
            )
        self.processor = processor
        self.images = images
        self._prefixes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self._max_prefixes = prefix_probes
        documented = assumed_shape(family)
        self.shapes: dict[PolicyForm, Shape | None] = dict.fromkeys(FORMS, documented)
        self._plans: dict[tuple[Slot, PolicyForm], VerdictPlan | None] = {}

    # -- requests ---------------------------------------------------------------------------

    def encode(self, request: GuardRequest, *, with_prefix: bool = True) -> Encoded:
        """The ids (and image tensors) of ``request``; raises :class:`GuardError`."""
        if request.family != self.family.name:
            raise ConfigurationError(
                f"a {request.family} request was sent to a {self.family.name} model"
            )
        kwargs = dict(request.chat_template_kwargs or {})
        ids, pixels, types = self._render(request.messages, kwargs)
        prefix = self._prefix(request, kwargs) if with_prefix else ()
        if prefix and tuple(ids[: len(prefix)]) != prefix:
            prefix = ()  # this text joined the prefix's last token: compute it whole
        return Encoded(tuple(ids), pixels, types, prefix)

    def _render(
        self, messages: Sequence[Mapping[str, Any]], kwargs: dict[str, Any]
    ) -> tuple[list[int], Any, tuple[int, ...] | None]:
        converted = [self._message(m) for m in messages]
        if self.processor is None:
            ids = self.tokenizer.apply_chat_template(
                converted,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
                sanitize_control_tokens=True,
                **kwargs,
            )
            return list(ids), None, None
        out = self.processor.apply_chat_template(
            converted,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            sanitize_control_tokens=True,
            **kwargs,
        )
        ids = out["input_ids"][0].tolist()
        types = out.get("token_type_ids")
        pixels = out.get("pixel_values")
        return ids, pixels, tuple(types[0].tolist()) if types is not None else None

    def _message(self, message: Mapping[str, Any]) -> dict[str, Any]:
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            raise ContentError(f"the local backend takes user and assistant turns, not {role!r}")
        if isinstance(content, str):
            return {"role": role, "content": neutralize(content)}
        if not isinstance(content, Sequence):
            raise ContentError(f"a {role} turn's content must be text or a list of parts")
        parts: list[dict[str, Any]] = []
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text":
                parts.append({"type": "text", "text": neutralize(str(part.get("text", "")))})
            elif kind == "image_url":
                if self.processor is None or not self.family.supports_images:
                    raise ContentError(
                        f"{self.family.name} reads text only; screen images "
                        "with nvidia/Nemotron-3.5-Content-Safety"
                    )
                if any(p["type"] == "image" for p in parts):
                    raise ContentError("one image per request; send each image on its own")
                assert isinstance(part, Mapping)
                parts.append({"type": "image", "image": self.images.from_part(part)})
            else:
                raise ContentError(f"unsupported content part type {kind!r}")
        return {"role": role, "content": parts}

    # -- the shared prefix ----------------------------------------------------------------

    def _prefix(self, request: GuardRequest, kwargs: dict[str, Any]) -> tuple[int, ...]:
        if self.family.renders_prompt:
            head = self.family.shared_prefix(request)
            if head is None:
                return ()
            probes = [[{"role": "user", "content": head + p}] for p in _PROBES]
        else:
            head = ""
            probes = [[{"role": "user", "content": p}] for p in _PROBES]
        key = json.dumps([head, kwargs], sort_keys=True, default=str)
        found = self._prefixes.get(key)
        if found is None:
            a, b = (self._render(probe, kwargs)[0] for probe in probes)
            # One token back from the fork: the user's text may merge with that token.
            found = tuple(a[: max(common_start(a, b) - 1, 0)])
            if len(found) < _MIN_PREFIX:
                found = ()
            self._prefixes[key] = found
            if len(self._prefixes) > self._max_prefixes:
                self._prefixes.popitem(last=False)
        else:
            self._prefixes.move_to_end(key)
        return found

    # -- single-pass verdicts ---------------------------------------------------------------

    def learned(self, shapes: dict[PolicyForm, Shape | None]) -> None:
        """Use the answer shapes the model showed (None for a form: generate there)."""
        self.shapes.update(shapes)
        self._plans.clear()

    def plan(self, slot: Slot, form: PolicyForm = "taxonomy") -> VerdictPlan | None:
        """How to read ``slot``'s verdict in one pass under ``form``, or None (generate)."""
        if (slot, form) not in self._plans:
            shape = self.shapes.get(form)
            lines = shape.for_slot(self.family, slot) if shape is not None else ()
            plan = self._make_plan(lines)
            if plan is not None and shape is not None:
                absent = self.family.absent_response
                tail = ""
                if absent is not None and len(shape.lines) > len(lines):
                    tail = shape.lines[len(lines)].lead + absent  # "Response harm: None"
                plan = replace(plan, lines=lines, tail=tail)
            self._plans[slot, form] = plan
        return self._plans[slot, form]

    def answer_ids(self, text: str) -> list[int]:
        return list(
            self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)
        )

    def _fork(self, before: str, line: Line) -> Fork | None:
        a = self.answer_ids(before + line.text(False))
        b = self.answer_ids(before + line.text(True))
        n = common_start(a, b)
        if n >= min(len(a), len(b)):
            return None
        return Fork(tuple(a[:n]), a[n], b[n])

    def _make_plan(self, lines: tuple[Line, ...]) -> VerdictPlan | None:
        if not lines or len(lines) > 2:
            return None
        first = self._fork("", lines[0])
        if first is None or len(lines) == 1:
            return VerdictPlan(first) if first is not None else None
        seconds: list[Fork] = []
        for flag, token in ((False, first.safe), (True, first.unsafe)):
            fork = self._fork(lines[0].text(flag), lines[1])
            # The second line's context must extend the first line as the model reads it.
            if fork is None or fork.context[: len(first.context) + 1] != (*first.context, token):
                return None
            seconds.append(fork)
        return VerdictPlan(first, (seconds[0], seconds[1]))
