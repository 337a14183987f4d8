"""Pick a backend from the environment, and say in one line which one and how to switch.

Order (the first that applies wins; ``GUARD_BACKEND`` forces one):

1. ``GUARD_BASE_URL`` (+ ``GUARD_MODEL``, ``GUARD_API_KEY``, ``GUARD_FAMILY``): your own vLLM /
   NIM server. It comes first because it is the most specific setting: a self-hosted NIM user
   often has ``NVIDIA_API_KEY`` set as well.
2. ``NVIDIA_API_KEY``: the NVIDIA API catalog (build.nvidia.com).
3. ``OPENROUTER_API_KEY``: OpenRouter (Nemotron 3.5 Content Safety).
4. a CUDA GPU with torch installed: the model loaded in this process (``LocalBackend``).
5. otherwise the offline demo: a tiny model shipped in the package, run through the real local
   backend code. It is **not** a safety model; it only shows the plumbing working.

``GUARD_BACKEND`` is one of ``url``, ``nim``, ``openrouter``, ``local``, ``demo``, ``remote``
(any of the first three, never a local model or the demo: for CI that must use a real guard)
or ``auto`` (the default). ``GUARD_MODEL`` overrides the model id of any backend.

The local backend never downloads unless ``GUARD_ALLOW_DOWNLOAD=1``: ``GUARD_MODEL`` (default
``nvidia/Nemotron-Content-Safety-Reasoning-4B``) must be a folder or a model id already in
the local Hugging Face cache (``hf download MODEL``); otherwise it is a
:class:`ConfigurationError` at once, saying so, not a minute of retries when offline.

>>> backend, banner = select_backend({"GUARD_BASE_URL": "http://127.0.0.1:8000/v1"})
>>> banner.startswith("guard-core: using your server at http://127.0.0.1:8000/v1")
True
>>> backend.close()

Values of keys are never put in a banner or an error message; only variable names are, and
``GUARD_BASE_URL`` is shown without its credentials (``user:password@``, ``?api-key=``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from guard_core.backends.base import Backend
from guard_core.backends.remote.transport import redact_url
from guard_core.errors import ConfigurationError, MissingDependencyError

__all__ = ["BACKEND_CHOICES", "DEFAULT_URL_MODEL", "describe_setup", "select_backend"]

DEFAULT_URL_MODEL = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
DEFAULT_NIM_MODEL = "nvidia/nemotron-content-safety-reasoning-4b"
DEFAULT_OPENROUTER_MODEL = "nvidia/nemotron-3.5-content-safety"
BACKEND_CHOICES = ("auto", "url", "nim", "openrouter", "local", "demo", "remote")

_SWITCH = "set GUARD_BACKEND=url|nim|openrouter|local to choose"
# Where a CUDA (or ROCm) driver shows itself on Linux; without one, importing torch (1-2 s)
# only to learn there is no GPU is wasted time.
_GPU_NODES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


def describe_setup() -> str:
    """What to set when no backend can be had (printed by ``guard-core`` and ``scripts/run``)."""
    rows = [
        ("export NVIDIA_API_KEY=nvapi-...", "NVIDIA API catalog; key from build.nvidia.com"),
        ("export OPENROUTER_API_KEY=sk-or-...", f"OpenRouter ({DEFAULT_OPENROUTER_MODEL})"),
        ("export GUARD_BASE_URL=http://HOST:8000/v1", "your own vLLM or NIM server; optionally:"),
        ("       GUARD_MODEL=...", f"default {DEFAULT_URL_MODEL}"),
        ("       GUARD_API_KEY=...", "if the server wants a key"),
        ("       GUARD_FAMILY=csr4b|nemotron35|nemoguard8b", "if the model id does not say"),
    ]
    width = max(len(cmd) for cmd, _ in rows) + 2
    return "\n".join(
        [
            "guard-core needs a guard model. Set one of these and run again:",
            *(f"  {cmd:<{width}}# {note}" for cmd, note in rows),
            "or, on a machine with a CUDA GPU: pip install 'guard-core-agents[local]' "
            "(runs the model here)",
            "GUARD_BACKEND=url|nim|openrouter|local|demo|remote forces one choice "
            "(demo: a tiny offline toy, NOT a safety model).",
        ]
    )


def select_backend(
    environ: Mapping[str, str] | None = None, *, allow_demo: bool = True
) -> tuple[Backend, str]:
    """The backend the environment asks for, and a one-line banner saying which and how to
    switch. With ``allow_demo=False`` the demo model is used only when ``GUARD_BACKEND=demo``.

    Raises :class:`ConfigurationError` (message: what to set) when none can be had.

    >>> backend, banner = select_backend({"NVIDIA_API_KEY": "nvapi-...", "GUARD_BACKEND": "nim"})
    >>> print(banner)  # doctest: +ELLIPSIS
    guard-core: using NVIDIA NIM (nvidia/nemotron-content-safety-reasoning-4b) from ...
    >>> backend.close()
    """
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v.strip()}
    choice = env.get("GUARD_BACKEND", "auto").strip().lower()
    if choice not in BACKEND_CHOICES:
        raise ConfigurationError(
            f"GUARD_BACKEND={choice!r} is not a backend; use one of {', '.join(BACKEND_CHOICES)}"
        )
    if choice in ("url", "nim", "openrouter", "local", "demo"):
        return _BUILDERS[choice](env)
    for name in ("url", "nim", "openrouter"):
        if _VARS[name] in env:
            return _BUILDERS[name](env)
    if choice == "remote":
        raise ConfigurationError(
            "GUARD_BACKEND=remote but no server is configured (none of GUARD_BASE_URL, "
            "NVIDIA_API_KEY, OPENROUTER_API_KEY is set)\n" + describe_setup()
        )
    local_problem = ""
    if _cuda_available():
        try:
            return _local(env)
        except ConfigurationError as exc:
            if not allow_demo:
                raise
            local_problem = str(exc).splitlines()[0][:400]
    if allow_demo:
        backend, banner = _demo(env)
        if local_problem:
            banner += f" (the local model could not be loaded: {local_problem})"
        return backend, banner
    raise ConfigurationError("no guard backend is configured\n" + describe_setup())


# -- one builder per backend: environment -> (backend, banner) ----------------------

_VARS = {"url": "GUARD_BASE_URL", "nim": "NVIDIA_API_KEY", "openrouter": "OPENROUTER_API_KEY"}


def _need(env: Mapping[str, str], var: str, choice: str) -> str:
    if var not in env:
        raise ConfigurationError(f"GUARD_BACKEND={choice} needs {var}\n" + describe_setup())
    return env[var]


def _remote(build: Callable[[], Backend], where: str) -> Backend:
    try:
        return build()
    except MissingDependencyError:
        raise
    except ConfigurationError as exc:  # e.g. OpenRouter asked for a model it does not serve
        raise ConfigurationError(f"{where}: {exc}") from None


def _url(env: Mapping[str, str]) -> tuple[Backend, str]:
    from guard_core.backends.remote import RemoteBackend

    url = _need(env, "GUARD_BASE_URL", "url")
    model = env.get("GUARD_MODEL", DEFAULT_URL_MODEL)
    backend = _remote(
        lambda: RemoteBackend.vllm(
            url, model, env.get("GUARD_API_KEY"), family=env.get("GUARD_FAMILY")
        ),
        "GUARD_BASE_URL",
    )
    key = " with GUARD_API_KEY" if "GUARD_API_KEY" in env else ""
    return backend, (
        f"guard-core: using your server at {redact_url(url)} ({model}) from "
        f"GUARD_BASE_URL{key}; unset it to use NVIDIA_API_KEY / OPENROUTER_API_KEY"
    )


def _nim(env: Mapping[str, str]) -> tuple[Backend, str]:
    from guard_core.backends.remote import RemoteBackend

    key = _need(env, "NVIDIA_API_KEY", "nim")
    model = env.get("GUARD_MODEL", DEFAULT_NIM_MODEL)
    backend = _remote(lambda: RemoteBackend.nim(model, api_key=key), "NVIDIA NIM")
    return backend, (
        f"guard-core: using NVIDIA NIM ({model}) from NVIDIA_API_KEY; "
        "set GUARD_BASE_URL=http://HOST:PORT/v1 to use your own server"
    )


def _openrouter(env: Mapping[str, str]) -> tuple[Backend, str]:
    from guard_core.backends.remote import RemoteBackend

    key = _need(env, "OPENROUTER_API_KEY", "openrouter")
    model = env.get("GUARD_MODEL", DEFAULT_OPENROUTER_MODEL)
    backend = _remote(lambda: RemoteBackend.openrouter(model, api_key=key), "OpenRouter")
    return backend, (
        f"guard-core: using OpenRouter ({model}) from OPENROUTER_API_KEY; "
        "set NVIDIA_API_KEY or GUARD_BASE_URL=http://HOST:PORT/v1 to switch"
    )


def _local_module(what: str) -> Any:
    if importlib.util.find_spec("torch") is None:
        raise ConfigurationError(
            f"{what} needs torch and transformers: pip install 'guard-core-agents[local]'"
        )
    try:
        from guard_core.backends import local
    except ImportError as exc:
        raise ConfigurationError(
            f"{what} is not available: the local backend cannot be imported ({exc})"
        ) from None
    return local


def _local(env: Mapping[str, str]) -> tuple[Backend, str]:
    local = _local_module("the local backend")
    model = env.get("GUARD_MODEL", DEFAULT_URL_MODEL)
    device = "GPU" if _cuda_available() else "CPU (slow)"
    download = env.get("GUARD_ALLOW_DOWNLOAD", "").strip().lower() in ("1", "true", "yes", "on")
    if not download:
        # Decided from the disk alone: without a local copy, from_pretrained would retry the
        # hub for about a minute when offline before failing, or start an 8 GB download.
        from guard_core.backends.local.load import how_to_get, is_hub_id, local_copy_problem

        if problem := local_copy_problem(model):
            allow = "; set GUARD_ALLOW_DOWNLOAD=1 to let guard-core download it"
            raise ConfigurationError(
                f"cannot load {model} locally: {problem}. To fix: "
                f"{how_to_get(model, 'set GUARD_MODEL to a folder that holds the model')}"
                f"{allow if is_hub_id(model) else ''}; or use a server (NVIDIA_API_KEY, "
                "GUARD_BASE_URL)"
            )
    try:
        backend: Backend = local.LocalBackend(
            model, family=env.get("GUARD_FAMILY"), local_files_only=None if download else True
        )
    except ConfigurationError:
        raise
    except Exception as exc:  # no such path, out of memory...
        raise ConfigurationError(
            f"cannot load {model} locally: {type(exc).__name__}: {exc}; set GUARD_MODEL to a "
            "local copy of the model, or use a server (NVIDIA_API_KEY, GUARD_BASE_URL)"
        ) from None
    return backend, (
        f"guard-core: using {model} in this process on the {device}; "
        "set NVIDIA_API_KEY or GUARD_BASE_URL=http://HOST:PORT/v1 to use a server"
    )


def _demo(env: Mapping[str, str]) -> tuple[Backend, str]:
    try:
        local = _local_module("the offline demo model")
        factory = getattr(getattr(local, "LocalBackend", None), "demo", None) or getattr(
            local, "demo_backend", None
        )
        if factory is None:
            raise ConfigurationError("the offline demo model is not part of this install")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc}\n{describe_setup()}") from None
    try:
        backend: Backend = factory()
    except Exception as exc:  # fixture missing, broken install: say so, not a traceback
        detail = str(exc) if isinstance(exc, ConfigurationError) else f"{type(exc).__name__}: {exc}"
        raise ConfigurationError(
            f"the offline demo model could not be loaded: {detail}\n{describe_setup()}"
        ) from None
    return backend, (
        "guard-core: using the offline DEMO model (a tiny toy, NOT a safety model: "
        "its verdicts mean nothing); set NVIDIA_API_KEY, OPENROUTER_API_KEY or "
        "GUARD_BASE_URL=http://HOST:PORT/v1 for a real guard"
    )


_BUILDERS: dict[str, Callable[[Mapping[str, str]], tuple[Backend, str]]] = {
    "url": _url,
    "nim": _nim,
    "openrouter": _openrouter,
    "local": _local,
    "demo": _demo,
}


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    if sys.platform == "linux" and not any(Path(node).exists() for node in _GPU_NODES):
        return False
    import torch

    return bool(torch.cuda.is_available())
