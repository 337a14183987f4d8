"""The public API, drawn: each public module's ``__all__`` and every exported signature.

A change to a public name, a parameter, a default or a public method shows as a diff of
``tests/api/snapshots/<module>.txt``. When the change is meant, regenerate and commit it
with the code (and a CHANGELOG line)::

    GUARD_API_WRITE=1 python -m pytest tests/api -q

Only what ``__all__`` lists is API. Modules inside ``backends/local``, ``backends/remote``,
``cli`` and the adapters' underscored modules are internal: their packages re-export what
users need.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest

SNAPSHOTS = Path(__file__).parent / "snapshots"
PUBLIC = [
    "guard_core",
    "guard_core.adapters.boundary",
    "guard_core.adapters.decisions",
    "guard_core.adapters.options",
    "guard_core.adapters.schema",
    "guard_core.adapters.streaming",
    "guard_core.adapters.unscreened",
    "guard_core.audit",
    "guard_core.backends",
    "guard_core.backends.base",
    "guard_core.backends.local",
    "guard_core.backends.remote",
    "guard_core.cache",
    "guard_core.cli",
    "guard_core.content",
    "guard_core.errors",
    "guard_core.guard",
    "guard_core.models",
    "guard_core.policy",
    "guard_core.screening",
    "guard_core.taxonomy",
    "guard_core.testing",
    "guard_core.verdict",
    "guard_core.integrations.langchain",
    "guard_core.integrations.llama_index",
    "guard_core.integrations.openai",
    "guard_core.integrations.openai_agents",
]
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
_FRAMEWORK = {
    "guard_core.integrations.openai_agents": "agents",
}


def _value(value: Any) -> str:
    if isinstance(value, types.FunctionType | type):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, set | frozenset):  # hash order differs between runs
        return f"{type(value).__name__}({{{', '.join(sorted(map(_value, value)))}}})"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    return _ADDRESS.sub("", repr(value))


def _signature(obj: Any) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    params = []
    for p in sig.parameters.values():
        text = p.name
        if p.kind is p.VAR_POSITIONAL:
            text = "*" + text
        elif p.kind is p.VAR_KEYWORD:
            text = "**" + text
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {_value(p.default)}"
        params.append((p.kind, text))
    out: list[str] = []
    star = False
    for i, (kind, text) in enumerate(params):
        if kind is inspect.Parameter.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        if kind is inspect.Parameter.VAR_POSITIONAL:
            star = True
        out.append(text)
        if kind is inspect.Parameter.POSITIONAL_ONLY and (
            i + 1 == len(params) or params[i + 1][0] is not inspect.Parameter.POSITIONAL_ONLY
        ):
            out.append("/")
    ret = sig.return_annotation
    tail = "" if ret is sig.empty else f" -> {_annotation(ret)}"
    return f"({', '.join(out)}){tail}"


def _annotation(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return _ADDRESS.sub("", inspect.formatannotation(annotation))


def _members(cls: type) -> list[str]:
    lines = []
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        if isinstance(member, property | types.MemberDescriptorType) or (
            hasattr(member, "__get__") and type(member).__name__ == "cached_property"
        ):
            lines.append(f"    .{name} (attribute)")
        elif isinstance(member, staticmethod | classmethod):
            lines.append(f"    .{name}{_signature(member.__func__)}")
        elif isinstance(member, types.FunctionType):
            lines.append(f"    .{name}{_signature(member)}")
    fields = getattr(cls, "model_fields", None)  # pydantic: the fields are the constructor
    if isinstance(fields, dict) and fields:
        own = vars(cls).get("__annotations__", {})  # a framework's inherited fields are its API
        for name, info in sorted((n, f) for n, f in fields.items() if n in own):
            default = "required" if info.is_required() else _value(info.get_default())
            lines.append(f"    field {name}: {_annotation(info.annotation)} = {default}")
    return lines


def describe(module_name: str) -> str:
    module = importlib.import_module(module_name)
    names = list(getattr(module, "__all__", []))
    lines = [f"# {module_name}", f"__all__ = {sorted(names)}", ""]
    for name in sorted(names):
        obj = getattr(module, name)
        if typing.get_origin(obj) is not None:
            lines.append(f"{name} = {_annotation(obj)}")
        elif isinstance(obj, type):
            bases = ", ".join(b.__name__ for b in obj.__bases__)
            lines.append(f"class {name}({bases})")
            lines += _members(obj)
        elif callable(obj) and not isinstance(obj, types.GenericAlias):
            lines.append(f"def {name}{_signature(obj)}")
        else:
            lines.append(f"{name} = {_value(obj)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("module_name", PUBLIC)
def test_the_public_api_matches_its_snapshot(module_name: str) -> None:
    framework = _FRAMEWORK.get(module_name)
    if framework is not None:
        pytest.importorskip(framework)
    snapshot = SNAPSHOTS / f"{module_name}.txt"
    now = describe(module_name)
    if os.environ.get("GUARD_API_WRITE") == "1":
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(now)
    assert snapshot.exists(), (
        f"no snapshot for {module_name}: run GUARD_API_WRITE=1 pytest tests/api"
    )
    before = snapshot.read_text()
    assert now == before, (
        f"the public API of {module_name} changed. If that is meant, regenerate the snapshot "
        "(GUARD_API_WRITE=1 python -m pytest tests/api) and say so in CHANGELOG.md"
    )


def test_every_public_package_is_snapshotted() -> None:
    """A new subpackage under guard_core or integrations must be added to PUBLIC (or be
    internal: inside backends/local, backends/remote or cli)."""
    root = Path(__file__).resolve().parents[2]
    packages = {
        "guard_core." + ".".join(p.parent.relative_to(root / "guard_core").parts)
        for p in (root / "guard_core").rglob("__init__.py")
    } | {
        "guard_core.integrations." + ".".join(p.parent.relative_to(root / "integrations").parts)
        for p in (root / "integrations").rglob("__init__.py")
    }
    packages = {p.rstrip(".") for p in packages} - {"guard_core.integrations"}
    internal = {"guard_core.adapters", "guard_core.models.templates", "guard_core.fixtures"}
    assert packages - internal <= set(PUBLIC), sorted(packages - internal - set(PUBLIC))


def test_the_top_level_names_the_readme_uses() -> None:
    import guard_core

    for name in guard_core.__all__:
        assert getattr(guard_core, name) is not None, name
    assert set(guard_core.__all__) <= set(dir(guard_core))
