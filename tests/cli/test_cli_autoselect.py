"""select_backend: which backend the environment gives, the banner, and the errors."""

from __future__ import annotations

import pytest
from cli_helpers import demo_available

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
        "guard-core[local]",
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
