"""select_backend: which backend the environment gives, the banner, and the errors."""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import pytest
from cli_helpers import child_env, demo_available, run_cli

from guard_core.backends import Backend, RemoteBackend, autoselect
from guard_core.backends.autoselect import DEFAULT_URL_MODEL, describe_setup, select_backend
from guard_core.errors import ConfigurationError

SECRET = "nvapi-SECRET-0123456789"


def _select(env: dict[str, str], **kwargs: bool) -> tuple[RemoteBackend, str]:
    backend, banner = select_backend(env, **kwargs)
    backend.close()
    assert isinstance(backend, RemoteBackend)
    assert "\n" not in banner and banner.startswith("guard-core: using ")
    return backend, banner


def test_base_url_gives_the_self_hosted_backend_with_the_default_model() -> None:
    backend, banner = _select(
        {"GUARD_BASE_URL": "http://10.0.0.5:8000/v1/", "GUARD_API_KEY": SECRET}
    )
    assert backend.base_url == "http://10.0.0.5:8000/v1"
    assert backend.model == DEFAULT_URL_MODEL and backend.family.name == "csr4b"
    assert "http://10.0.0.5:8000/v1" in banner and "GUARD_BASE_URL" in banner
    assert "GUARD_API_KEY" in banner and SECRET not in banner and SECRET not in repr(backend)


def test_base_url_wins_over_the_hosted_keys_and_hides_url_credentials() -> None:
    backend, banner = _select(
        {
            "GUARD_BASE_URL": "https://bob:hunter22@guard.example:9443/v1",
            "NVIDIA_API_KEY": SECRET,
            "OPENROUTER_API_KEY": SECRET,
        }
    )
    assert backend.base_url.startswith("https://bob:")  # the client still gets them
    assert "https://guard.example:9443/v1" in banner
    assert "hunter22" not in banner and "bob" not in banner


def test_model_and_family_come_from_the_environment() -> None:
    backend, _ = _select(
        {
            "GUARD_BASE_URL": "http://h:1/v1",
            "GUARD_MODEL": "my-finetune",
            "GUARD_FAMILY": "nemotron35",
        }
    )
    assert backend.model == "my-finetune" and backend.family.name == "nemotron35"


def test_nvidia_key_gives_nim() -> None:
    backend, banner = _select({"NVIDIA_API_KEY": SECRET, "OPENROUTER_API_KEY": "sk-or-x"})
    assert backend.base_url == "https://integrate.api.nvidia.com/v1"
    assert backend.model == "nvidia/nemotron-content-safety-reasoning-4b"
    assert "NVIDIA NIM" in banner and "NVIDIA_API_KEY" in banner and "GUARD_BASE_URL" in banner
    assert SECRET not in banner


def test_openrouter_key_gives_openrouter_with_nemotron_35() -> None:
    backend, banner = _select({"OPENROUTER_API_KEY": SECRET})
    assert backend.base_url == "https://openrouter.ai/api/v1"
    assert backend.family.name == "nemotron35" and "OpenRouter" in banner
    assert SECRET not in banner


def test_guard_backend_forces_a_choice_and_blank_values_count_as_unset() -> None:
    _, banner = _select(
        {
            "GUARD_BACKEND": "openrouter",
            "OPENROUTER_API_KEY": SECRET,
            "GUARD_BASE_URL": "http://h:1/v1",
            "NVIDIA_API_KEY": "  ",
        }
    )
    assert "OpenRouter" in banner
    _, banner = _select({"GUARD_BACKEND": " NIM ", "NVIDIA_API_KEY": SECRET, "GUARD_BASE_URL": ""})
    assert "NVIDIA NIM" in banner


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"GUARD_BACKEND": "nim"}, "GUARD_BACKEND=nim needs NVIDIA_API_KEY"),
        (
            {"GUARD_BACKEND": "url", "NVIDIA_API_KEY": SECRET},
            "GUARD_BACKEND=url needs GUARD_BASE_URL",
        ),
        ({"GUARD_BACKEND": "openrouter"}, "needs OPENROUTER_API_KEY"),
        (
            {"GUARD_BACKEND": "cloud"},
            "GUARD_BACKEND='cloud' is not a backend; use one of auto, url",
        ),
        ({"GUARD_BACKEND": "remote"}, "GUARD_BACKEND=remote but no server is configured"),
        (
            {"OPENROUTER_API_KEY": SECRET, "GUARD_MODEL": DEFAULT_URL_MODEL},
            "OpenRouter: OpenRouter serves only nvidia/nemotron-3.5-content-safety",
        ),
        (
            {"GUARD_BASE_URL": "http://h:1/v1", "GUARD_MODEL": "mystery-model"},
            "cannot tell the guard-model family from 'mystery-model'",
        ),
    ],
)
def test_configuration_errors_say_what_to_set(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        select_backend(env)
    assert needle in str(info.value)
    assert SECRET not in str(info.value)


def test_nothing_configured_without_the_demo_is_an_error_listing_every_variable() -> None:
    if autoselect._cuda_available():
        pytest.skip("a GPU is here: the local model would be chosen")
    with pytest.raises(ConfigurationError) as info:
        select_backend({}, allow_demo=False)
    message = str(info.value)
    assert message.startswith("no guard backend is configured")
    assert describe_setup() in message


def test_describe_setup_names_every_way_to_get_a_backend() -> None:
    text = describe_setup()
    for needle in (
        "NVIDIA_API_KEY=",
        "OPENROUTER_API_KEY=",
        "GUARD_BASE_URL=",
        "GUARD_MODEL=",
        "GUARD_API_KEY=",
        "GUARD_FAMILY=",
        "guard-core-agents[local]",
        "GUARD_BACKEND=",
    ):
        assert needle in text


@pytest.mark.skipif(not demo_available(), reason="the demo model is not in this install")
def test_demo_banner_says_it_is_not_a_safety_model() -> None:
    backend, banner = select_backend({"GUARD_BACKEND": "demo"})
    try:
        assert isinstance(backend, Backend)
        assert "DEMO" in banner and "NOT a safety model" in banner and "\n" not in banner
    finally:
        backend.close()


@pytest.mark.skipif(demo_available(), reason="the demo model is in this install")
def test_without_the_demo_model_forcing_it_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError) as info:
        select_backend({"GUARD_BACKEND": "demo"})
    assert "demo model" in str(info.value) and describe_setup() in str(info.value)


def test_a_local_model_that_cannot_load_is_a_configuration_error(tmp_path: object) -> None:
    # No weights can be fetched here: whether the local backend is installed or not, asking
    # for it must end in a ConfigurationError that says what to do, never a raw traceback.
    with pytest.raises(ConfigurationError):
        select_backend({"GUARD_BACKEND": "local", "GUARD_MODEL": f"{tmp_path}/no-such-model"})


# -- the local backend without a local copy: refused at once, not after a minute of retries --

_NO_SUCH_MODEL = "guard-core-tests/no-such-guard-model"


def _offline_child(hf_home: Path, **extra: str) -> dict[str, str]:
    """A child with an empty Hugging Face cache; HF_HUB_OFFLINE unset, as on a laptop whose
    network is down: this is where from_pretrained retried the hub for ~50 s."""
    env = child_env(HF_HOME=str(hf_home), GUARD_BACKEND="local", **extra)
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        env.pop(var, None)
    return env


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the [local] extra")
@pytest.mark.parametrize("model", [None, _NO_SUCH_MODEL])
def test_guard_backend_local_without_a_local_copy_fails_at_once_saying_how_to_get_it(
    tmp_path: Path, model: str | None
) -> None:
    env = _offline_child(tmp_path / "hf", **({"GUARD_MODEL": model} if model else {}))
    shown = model or DEFAULT_URL_MODEL
    started = time.monotonic()
    done = run_cli("screen", "hello", env=env, timeout=120)
    took = time.monotonic() - started
    assert took < 10, f"took {took:.1f} s: the hub was asked"
    assert done.returncode == 2 and done.stdout == ""
    err = done.stderr
    assert err.startswith(f"guard-core: error: cannot load {shown} locally: it is not in the local")
    assert f"hf download {shown}" in err and f"huggingface-cli download {shown}" in err
    assert "set GUARD_MODEL to a folder that holds the model" in err
    assert "GUARD_ALLOW_DOWNLOAD=1" in err
    assert ".." not in err and "Traceback" not in err and "Retrying" not in err


def test_a_guard_model_path_that_is_no_folder_says_so_without_download_advice(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "models" / "csr4b"
    if importlib.util.find_spec("torch") is None:
        pytest.skip("needs the [local] extra")
    with pytest.raises(ConfigurationError) as info:
        select_backend({"GUARD_BACKEND": "local", "GUARD_MODEL": str(missing)})
    message = str(info.value)
    assert f"there is no folder {str(missing)!r} and it is not a Hugging Face model id" in message
    assert "set GUARD_MODEL to a folder that holds the model" in message
    assert "GUARD_ALLOW_DOWNLOAD" not in message and ".." not in message


def _fill_cache(hf_home: Path, repo: str, *, weights: bool = True) -> None:
    """Lay the shipped toy checkpoint out as ``hf download repo`` leaves it in the cache."""
    from guard_core.backends.local import fixture_path

    entry = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = entry / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(fixture_path(), snapshot)
    if not weights:
        (snapshot / "model.safetensors").unlink()
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(snapshot.name)


@pytest.mark.skipif(not demo_available(), reason="the demo model is not in this install")
def test_guard_backend_local_loads_a_model_in_the_cache_without_the_network(
    tmp_path: Path,
) -> None:
    _fill_cache(tmp_path / "hf", DEFAULT_URL_MODEL)
    done = run_cli("screen", "hello", env=_offline_child(tmp_path / "hf"), timeout=120)
    assert done.returncode in (0, 1), done.stderr  # a verdict (the toy's), not an error
    assert f"guard-core: using {DEFAULT_URL_MODEL} in this process" in done.stderr
    assert done.stdout.startswith(("ALLOWED", "BLOCKED")) and "reason:" in done.stdout


@pytest.mark.skipif(not demo_available(), reason="the demo model is not in this install")
def test_a_cached_model_without_its_weights_is_refused_at_once(tmp_path: Path) -> None:
    _fill_cache(tmp_path / "hf", DEFAULT_URL_MODEL, weights=False)
    started = time.monotonic()
    done = run_cli("screen", "hello", env=_offline_child(tmp_path / "hf"), timeout=120)
    assert time.monotonic() - started < 10
    assert done.returncode == 2
    assert "its weights are not in the local Hugging Face cache" in done.stderr
    assert f"hf download {DEFAULT_URL_MODEL}" in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the [local] extra")
def test_load_model_offline_or_from_a_bad_folder_says_what_to_do_in_one_sentence_each(
    tmp_path: Path,
) -> None:
    from guard_core.backends.local.load import load_model
    from guard_core.models import family_for_model

    family = family_for_model(DEFAULT_URL_MODEL)
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as info:
        load_model(_NO_SUCH_MODEL, family, local_files_only=True)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert message.startswith(f"cannot load the guard model {_NO_SUCH_MODEL!r} offline")
    assert f"hf download {_NO_SUCH_MODEL}" in message and ".." not in message
    with pytest.raises(ConfigurationError) as info:  # a folder transformers cannot read
        load_model(str(tmp_path), family)
    message = str(info.value)
    assert message.startswith(f"could not load the guard model {str(tmp_path)!r} (directory): ")
    assert "To fix: the folder must hold a complete Gemma-3 guard checkpoint" in message
    assert ".." not in message and "\n" not in message
