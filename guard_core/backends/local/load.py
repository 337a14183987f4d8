"""Loading a Gemma-3 guard model for the local backend: device, dtype, tokenizer/processor.

The text family (Content Safety Reasoning 4B) loads ``AutoTokenizer`` +
``AutoModelForCausalLM`` (a multimodal Gemma-3 checkpoint maps to
``Gemma3ForConditionalGeneration``, which reads text fine); Nemotron 3.5 loads
``AutoProcessor`` + ``AutoModelForImageTextToText``. bfloat16 on CUDA, float32 on CPU;
float16 is refused because Gemma-3 then emits only ``<pad>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from guard_core.errors import ConfigurationError, MissingDependencyError
from guard_core.models import ModelFamily

__all__ = ["Loaded", "check_tuning", "load_model", "resolve_device", "resolve_dtype"]


@dataclass(frozen=True)
class Loaded:
    model: Any
    tokenizer: Any
    processor: Any | None
    device: Any
    dtype: Any


def _torch() -> Any:
    try:
        import PIL  # noqa: F401 - part of the extra; checked here for one clear error
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch, transformers and pillow", "local") from None
    return torch


def resolve_device(device: Any) -> Any:
    torch = _torch()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigurationError(f"unknown device {device!r}: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            "device='cuda' but torch sees no CUDA GPU; use device='cpu' "
            "or install a CUDA build of torch"
        )
    return resolved


def resolve_dtype(dtype: Any, device: Any) -> Any:
    torch = _torch()
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        named = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(named, torch.dtype):
            raise ConfigurationError(f"unknown dtype {dtype!r}; use 'bfloat16' or 'float32'")
        dtype = named
    if dtype == torch.float16:
        raise ConfigurationError(
            "float16 breaks Gemma-3 guard models (they answer only <pad>); "
            "use dtype='bfloat16' on GPU or 'float32' on CPU"
        )
    return dtype


def load_model(
    source: str,
    family: ModelFamily,
    *,
    device: Any = None,
    dtype: Any = None,
    local_files_only: bool | None = None,
    revision: str | None = None,
    attn_implementation: str | None = None,
) -> Loaded:
    """Load ``source`` (hub id or local directory) through ``from_pretrained``."""
    _torch()
    import transformers

    auto: Any = transformers  # untyped factories

    resolved = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved)
    common: dict[str, Any] = {"revision": revision}
    if local_files_only is not None:
        common["local_files_only"] = local_files_only
    model_args: dict[str, Any] = {"dtype": resolved_dtype, **common}
    if attn_implementation is not None:
        model_args["attn_implementation"] = attn_implementation
    try:
        if family.supports_images:
            processor = auto.AutoProcessor.from_pretrained(source, **common)
            tokenizer = processor.tokenizer
            model = auto.AutoModelForImageTextToText.from_pretrained(source, **model_args)
        else:
            processor = None
            tokenizer = auto.AutoTokenizer.from_pretrained(source, **common)
            model = auto.AutoModelForCausalLM.from_pretrained(source, **model_args)
    except (OSError, ValueError, KeyError) as exc:
        where = "directory" if os.path.isdir(source) else "model id"
        raise ConfigurationError(
            f"could not load the guard model {source!r} ({where}): {exc}. For a hub id, "
            f"download it first (hf download {source}) or pass a local directory; offline "
            "runs need HF_HUB_OFFLINE=1 or local_files_only=True and a filled cache"
        ) from exc
    if not hasattr(model, "model") or model.get_output_embeddings() is None:
        raise ConfigurationError(f"{source!r} is not a Gemma-3 causal language model")
    model.to(resolved)
    model.eval()
    return Loaded(model, tokenizer, processor, resolved, resolved_dtype)


def check_tuning(options: dict[str, Any]) -> None:
    """Refuse a tuning option that cannot work, before any model is loaded."""
    for name in (
        "max_cached_prefixes",
        "max_batch_tokens",
        "max_batch_size",
        "max_input_tokens",
        "max_image_pixels",
    ):
        value = options.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigurationError(f"LocalBackend({name}={value!r}): give a whole number >= 1")
    for name, top in (("batch_wait_ms", 10_000.0), ("min_label_mass", 1.0)):
        value = options.get(name)
        if value is not None and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= top
        ):
            raise ConfigurationError(
                f"LocalBackend({name}={value!r}): give a number from 0 to {top:g}"
            )
