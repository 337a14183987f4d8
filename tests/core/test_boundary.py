"""The boundary kit: every string is found, nothing unreadable is skipped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from guard_core.adapters.boundary import agent_choice, joined, strings_in
from guard_core.errors import ContentError

CANARY = "CANARY-bomb"

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


def _plant(value: Any, draw: Any) -> Any:
    """``value`` with the canary put into one place chosen by ``draw``."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _plant(value[key], draw)}
    if isinstance(value, list) and value:
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], _plant(value[i], draw), *value[i + 1 :]]
    return CANARY


@given(json_like, st.data())
def test_a_string_planted_anywhere_is_found(value: Any, data: Any) -> None:
    planted = _plant(value, data.draw)
    assert CANARY in joined(strings_in(planted))


@given(st.dictionaries(st.text(min_size=1, max_size=6), json_like, max_size=4))
def test_a_canary_key_is_content(value: dict[str, Any]) -> None:
    assert CANARY in joined(strings_in({**value, CANARY: 1}))


def test_skip_keys_leave_out_only_what_they_name() -> None:
    found = strings_in(
        {"id": CANARY, "items": [{"id": "x", "text": "keep"}]},
        skip_keys={"id"},
        structural_keys={"items", "text"},
    )
    assert [f.path for f in found] == ["items[0].text"]


def test_a_label_key_hides_a_token_but_not_a_sentence() -> None:
    found = strings_in(
        {"type": "text", "status": "how to build a bomb", "id": "call_1"},
        label_keys={"type", "status", "id"},
    )
    assert [(f.path, f.text) for f in found] == [("status", "how to build a bomb")]


def test_free_form_keys_are_content_and_schema_keys_are_not() -> None:
    schema = {
        "type": "object",
        "properties": {"how_to_build_a_bomb": {"type": "string"}},
        "required": ["how_to_build_a_bomb"],
    }
    texts = [f.text for f in strings_in(schema)]
    assert texts == ["object", "how_to_build_a_bomb", "string", "how_to_build_a_bomb"]
    assert [f.text for f in strings_in({"bomb": 1}, structural_keys={"x"})] == ["bomb"]


def test_pydantic_models_and_their_extras_and_dataclasses_are_walked() -> None:
    class Part(BaseModel):
        model_config = ConfigDict(extra="allow")
        text: str

    @dataclass
    class Box:
        part: Part

    found = strings_in(Box(Part(text="a", surprise=CANARY)))  # type: ignore[call-arg]
    # declared field names are schema; an extra field's name is free-form, so content
    assert [(f.path, f.text) for f in found] == [
        ("part.text", "a"),
        ("part[key]", "surprise"),
        ("part.surprise", CANARY),
    ]


def test_computed_fields_are_walked_like_fields() -> None:
    from pydantic import PrivateAttr, computed_field

    class Out(BaseModel):
        _hidden: str = PrivateAttr(default=CANARY)

        @computed_field(repr=False)  # type: ignore[prop-decorator]
        @property
        def shown(self) -> str:
            return self._hidden

    assert [(f.path, f.text) for f in strings_in(Out())] == [("shown", CANARY)]


def test_dates_numbers_and_ids_carry_no_text_and_paths_are_text() -> None:
    import datetime
    import decimal
    import uuid
    from pathlib import PurePosixPath

    found = strings_in(
        {
            "when": datetime.datetime(2026, 1, 1),
            "n": decimal.Decimal("1.5"),
            "id": uuid.uuid4(),
            "file": PurePosixPath(f"/tmp/{CANARY}.txt"),
        },
        structural_keys={"when", "n", "id", "file"},
    )
    assert [(f.path, f.text) for f in found] == [("file", f"/tmp/{CANARY}.txt")]


@pytest.mark.parametrize(
    "value, says",
    [
        ({"data": b"\x00bomb"}, "data: cannot screen raw bytes"),
        ({"x": object()}, "x: cannot screen a object"),
    ],
)
def test_what_cannot_be_read_is_refused_with_its_path(value: Any, says: str) -> None:
    with pytest.raises(ContentError, match=says):
        strings_in(value)


def test_cycles_and_depth_are_refused_not_recursed() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ContentError, match="refers to itself"):
        strings_in(loop)
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ContentError, match="deeper than 32"):
        strings_in(deep)
    shared = ["ok"]
    assert len(strings_in([shared, shared])) == 2  # the same list twice is not a cycle


def test_the_developers_agent_wins_unless_override_is_allowed() -> None:
    assert agent_choice("support", None, allow_override=False, owner="x") == "support"
    assert agent_choice("support", "support", allow_override=False, owner="x") == "support"
    assert agent_choice(None, "devops", allow_override=False, owner="x") == "devops"
    assert agent_choice("support", "devops", allow_override=True, owner="x") == "devops"
    with pytest.raises(ContentError, match="allow_agent_override=True"):
        agent_choice("support", "devops", allow_override=False, owner="x")
