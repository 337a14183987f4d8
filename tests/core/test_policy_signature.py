"""The constructor signatures mypy reads for ``Policy`` and ``CustomPolicy`` (declared under
``TYPE_CHECKING`` in guard_core/policy.py, wider than the stored field types) name exactly
the models' fields: a field added to the model and not to its signature fails here."""

from __future__ import annotations

import ast
import inspect

import pytest
from pydantic import BaseModel

from guard_core import policy
from guard_core.policy import CustomPolicy, Policy


def _declared_init(model: type[BaseModel]) -> list[str]:
    tree = ast.parse(inspect.getsource(policy))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == model.__name__]
    for node in cls.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            (init,) = [n for n in node.body if isinstance(n, ast.FunctionDef)]
            return [arg.arg for arg in init.args.kwonlyargs]
    raise AssertionError(f"{model.__name__} declares no TYPE_CHECKING __init__")


@pytest.mark.parametrize("model", [Policy, CustomPolicy])
def test_the_typed_signature_names_every_field(model: type[BaseModel]) -> None:
    assert _declared_init(model) == list(model.model_fields)
