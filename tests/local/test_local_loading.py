"""Loading: the real from_pretrained path, offline; device and dtype; clear errors."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch

from guard_core import Guard
from guard_core.backends.local import LocalBackend, fixture_path
from guard_core.errors import ConfigurationError, MissingDependencyError

from .conftest import IMAGE_FIXTURE, TEXT_FIXTURE


def test_cpu_defaults_to_float32(text_backend: LocalBackend) -> None:
    assert text_backend.device.type == "cpu" and text_backend.dtype == torch.float32
    assert next(text_backend._engine.model.parameters()).dtype == torch.float32
    assert "LocalBackend(" in repr(text_backend) and "cpu" in text_backend.describe()


def test_the_families_come_from_the_model_names(
    text_backend: LocalBackend, image_backend: LocalBackend
) -> None:
    assert text_backend.family.name == "csr4b"
    assert image_backend.family.name == "nemotron35"
    assert image_backend._encoder.processor is not None


@pytest.mark.parametrize("dtype", [torch.float16, "float16", "torch.float16"])
def test_float16_is_refused(dtype: object) -> None:
    with pytest.raises(ConfigurationError, match="bfloat16"):
        LocalBackend(TEXT_FIXTURE, device="cpu", dtype=dtype)


def test_bfloat16_on_request() -> None:
    backend = LocalBackend(TEXT_FIXTURE, device="cpu", dtype="bfloat16")
    try:
        assert backend.dtype == torch.bfloat16
        assert Guard(backend).check("hello").error is None
    finally:
        backend.close()


def test_unknown_dtype_and_device() -> None:
    with pytest.raises(ConfigurationError, match="dtype"):
        LocalBackend(TEXT_FIXTURE, device="cpu", dtype="float7")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="CUDA"):
            LocalBackend(TEXT_FIXTURE, device="cuda")


def test_uncached_hub_model_offline_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="hf download"):
        LocalBackend("nvidia/Nemotron-Content-Safety-Reasoning-4B", local_files_only=True)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"there is no folder .* not a Hugging Face"):
        LocalBackend(str(tmp_path / "nemotron-content-safety-reasoning-4b"))


def test_a_path_without_a_family_hint_needs_family(tmp_path: Path) -> None:
    target = tmp_path / "my-guard"
    shutil.copytree(TEXT_FIXTURE, target)
    with pytest.raises(ConfigurationError, match="family="):
        LocalBackend(target)
    backend = LocalBackend(target, family="csr4b", device="cpu")
    try:
        assert backend.family.name == "csr4b"
    finally:
        backend.close()


def test_nemoguard_is_not_a_local_model() -> None:
    with pytest.raises(ConfigurationError, match="RemoteBackend"):
        LocalBackend("nvidia/llama-3.1-nemoguard-8b-content-safety")


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'guard-core-agents\[local\]'"):
        LocalBackend(TEXT_FIXTURE)


def test_lazy_import_from_backends() -> None:
    from guard_core.backends import LocalBackend as Exported

    assert Exported is LocalBackend


def test_fixtures_are_small_and_shipped() -> None:
    for path in (TEXT_FIXTURE, IMAGE_FIXTURE):
        files = list(Path(path).iterdir())
        assert sum(f.stat().st_size for f in files) < 500_000
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {f.name for f in files}
    assert fixture_path() == TEXT_FIXTURE
    with pytest.raises(ConfigurationError, match="no fixture"):
        fixture_path("nope")
