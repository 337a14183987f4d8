"""Loading a Gemma-3 guard model for the local backend: device, dtype, tokenizer/processor.

The text family (Content Safety Reasoning 4B) loads ``AutoTokenizer`` +
``AutoModelForCausalLM`` (a multimodal Gemma-3 checkpoint maps to
``Gemma3ForConditionalGeneration``, which reads text fine); Nemotron 3.5 loads
``AutoProcessor`` + ``AutoModelForImageTextToText``. bfloat16 on CUDA, float32 on CPU;
float16 is refused because Gemma-3 then emits only ``<pad>``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from guard_core.errors import ConfigurationError, MissingDependencyError
from guard_core.models import ModelFamily

__all__ = [
    "Loaded",
    "check_tuning",
    "how_to_get",
    "is_hub_id",
    "load_model",
    "local_copy_problem",
    "resolve_device",
    "resolve_dtype",
]

_TRUE = ("1", "true", "yes", "on")
# The weight files of a checkpoint, each with its shard index; the Nemotron guards ship
# safetensors, but a cache holding a .bin checkpoint loads as well.
_WEIGHTS = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)


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


def is_hub_id(source: str) -> bool:
    """Whether ``source`` has the form of a Hugging Face model id (``namespace/name``)."""
    try:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError
    except ImportError:
        return "/" in source and not os.path.isabs(source)
    try:
        try_to_load_from_cache(source, "config.json")  # the disk only; validates the id
    except HFValidationError:
        return False
    return True


def local_copy_problem(source: str, revision: str | None = None) -> str | None:
    """Why ``source`` cannot be loaded without the network; None when it can.

    ``source`` loads offline when it is a folder, or a Hugging Face model id whose config and
    every weight file are in this process's Hugging Face cache (``HF_HOME``,
    ``HF_HUB_CACHE``). Only the disk is read, never the network, so this answers at once.
    :func:`how_to_get` says what to do about it.
    """
    if os.path.isdir(source):
        return None
    if not is_hub_id(source):
        return f"there is no folder {source!r} and it is not a Hugging Face model id"
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # no hub client: the loader says what is missing
        return None

    def cached(name: str) -> str | None:
        found = try_to_load_from_cache(source, name, revision=revision)
        return found if isinstance(found, str) else None

    if cached("config.json") is None:
        return "it is not in the local Hugging Face cache"
    weights: list[str] | None = None
    for single, index in _WEIGHTS:
        if cached(single) is not None:
            weights = []
            break
        if (listed := cached(index)) is not None:
            try:
                with open(listed, encoding="utf-8") as file:
                    weights = sorted(set(json.load(file)["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                return f"its cached shard index {index} cannot be read ({exc!r})"
            break
    if weights is None:
        return "its weights are not in the local Hugging Face cache"
    absent = [name for name in weights if cached(name) is None]
    if absent:
        return (
            f"{len(absent)} of its {len(weights)} weight files are not in the local "
            f"Hugging Face cache (first: {absent[0]})"
        )
    return None


def how_to_get(source: str, folder: str = "pass a folder that holds the model") -> str:
    """What to do when :func:`local_copy_problem` found ``source`` missing; ``folder`` is how
    the caller names a local folder (a parameter, an environment variable)."""
    if not is_hub_id(source):
        return (
            f"{folder} (config.json, tokenizer files and weights, as `hf download MODEL "
            "--local-dir FOLDER` writes it) or a Hugging Face model id such as "
            "nvidia/Nemotron-Content-Safety-Reasoning-4B"
        )
    return (
        f"download it first with `hf download {source}` (`huggingface-cli download {source}` "
        f"with an older huggingface_hub), or {folder}"
    )


def _offline(local_files_only: bool | None) -> bool:
    if local_files_only is not None:
        return local_files_only
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


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
    """Load ``source`` (hub id or local directory) through ``from_pretrained``.

    Offline (``local_files_only=True`` or ``HF_HUB_OFFLINE=1``), a hub id that is not in the
    local cache is refused at once with what to do, before transformers is asked.
    """
    _torch()
    import transformers

    auto: Any = transformers  # untyped factories

    resolved = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved)
    if _offline(local_files_only) and (problem := local_copy_problem(source, revision)):
        raise ConfigurationError(
            f"cannot load the guard model {source!r} offline (local_files_only=True or "
            f"HF_HUB_OFFLINE=1): {problem}. To fix: {how_to_get(source)}"
        )
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
        detail = " ".join(str(exc).split()).rstrip(".")  # one line, and one full stop below
        if os.path.isdir(source):
            advice = (
                "the folder must hold a complete Gemma-3 guard checkpoint (config.json, "
                "tokenizer files and weights), as `hf download MODEL --local-dir FOLDER` "
                "writes it"
            )
        else:
            advice = (
                f"{how_to_get(source)}; offline runs need HF_HUB_OFFLINE=1 or "
                "local_files_only=True and a filled cache"
            )
        where = "directory" if os.path.isdir(source) else "model id"
        raise ConfigurationError(
            f"could not load the guard model {source!r} ({where}): {detail}. To fix: {advice}"
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
