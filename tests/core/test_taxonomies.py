"""Each family's own category list, and a policy's own taxonomy ("custom taxonomy", 3.5's
Mode B) rendered into each family's taxonomy slot: one YAML, every family."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard_core import Guard, Policy, PolicySet
from guard_core.errors import PolicyError
from guard_core.models import (
    Completion,
    ContentSafetyReasoning4B,
    Exchange,
    NemoGuard8B,
    Nemotron35ContentSafety,
    get_family,
)
from guard_core.taxonomy import (
    CATEGORIES,
    CSR4B_CATEGORIES,
    NEMOGUARD_CATEGORIES,
    NEMOTRON35_CATEGORIES,
    Category,
    render_taxonomy,
)
from guard_core.testing import ScriptedBackend

from ._support import N35, reference_template

CSR_TEMPLATE = reference_template("csr4b_template.txt")
NG_TEMPLATE = reference_template("nemoguard8b_template.txt")
OWN = (
    Category(name="Competitors", description="Praise for, or offers of, other carriers."),
    Category(name="Legal Advice"),
)
OWN_LINES = "S1: Competitors. Praise for, or offers of, other carriers.\nS2: Legal Advice."
YAML = """\
agents:
  support:
    mode: fast
    categories:
      - name: Competitors
        description: Praise for, or offers of, other carriers.
      - Legal Advice
"""


def test_each_family_keeps_its_own_list() -> None:
    assert len(CSR4B_CATEGORIES) == 22 and "Other" not in CSR4B_CATEGORIES.values()
    assert len(NEMOGUARD_CATEGORIES) == 23 and NEMOGUARD_CATEGORIES["S14"] == "Other"
    assert len(NEMOTRON35_CATEGORIES) == 24 and NEMOTRON35_CATEGORIES["S24"] == "Economic Harm"
    assert list(NEMOTRON35_CATEGORIES.items())[:23] == list(NEMOGUARD_CATEGORIES.items())
    assert set(CATEGORIES) == set(NEMOTRON35_CATEGORIES.values())
    for family, table in (("csr4b", 22), ("nemoguard8b", 23), ("nemotron35", 24)):
        assert len(get_family(family).categories) == table


def test_economic_harm_can_be_named_and_excluded_on_3_5() -> None:
    policy = Policy(exclude_categories={"economic harm"})
    assert policy.exclude_categories == {"Economic Harm"}
    backend = ScriptedBackend({"payday scheme": "Economic Harm", "bomb": "Violence"}, model=N35)
    strict, lenient = Guard(backend), Guard(backend, policy)
    assert not strict.check("join my payday scheme").allowed
    assert lenient.check("join my payday scheme").allowed  # excluded: judged, then dropped
    assert not lenient.check("a bomb and a payday scheme").allowed
    request = Nemotron35ContentSafety().render(Exchange("x"), policy)
    assert request.chat_template_kwargs == {
        "enable_thinking": False,
        "request_categories": "/categories",  # exclusions are applied to the categories
    }
    assert request.form == "taxonomy"


@pytest.mark.parametrize("family", [ContentSafetyReasoning4B(), NemoGuard8B()])
def test_excluding_a_name_a_family_lacks_leaves_its_prompt_as_it_is(family: object) -> None:
    assert isinstance(family, ContentSafetyReasoning4B | NemoGuard8B)
    plain = family.render(Exchange("x"), Policy())
    excluded = family.render(Exchange("x"), Policy(exclude_categories={"Economic Harm"}))
    assert plain.prompt == excluded.prompt


def test_csr_own_categories_fill_the_taxonomy_slot() -> None:
    request = ContentSafetyReasoning4B().render(Exchange("hi"), Policy(categories=OWN))
    standard = "\n".join(f"{c}: {n}." for c, n in CSR4B_CATEGORIES.items())
    assert standard in CSR_TEMPLATE
    assert request.prompt is not None
    assert request.prompt == CSR_TEMPLATE.replace(standard, OWN_LINES).replace(
        "{user_input}", "hi"
    ).replace("{assistant_response_or_None}", "None").replace("{mode}", "/no_think")
    assert request.form == "custom_taxonomy"
    assert request.codes == {"S1": "Competitors", "S2": "Legal Advice"}


def test_nemoguard_own_categories_fill_the_category_block() -> None:
    request = NemoGuard8B().render(Exchange("hi"), Policy(categories=OWN, mode="categories"))
    standard = "\n".join(f"{c}: {n}." for c, n in NEMOGUARD_CATEGORIES.items())
    assert request.prompt == NG_TEMPLATE.replace(standard, OWN_LINES).replace("{user_input}", "hi")
    answer = '{"User Safety": "unsafe", "Safety Categories": "S2, competitors"}'
    judged = NemoGuard8B().parse(Completion(answer, "stop"), request)
    assert judged.categories == ("Legal Advice", "Competitors")


@pytest.mark.parametrize(
    ("mode", "categories", "thinking"),
    [
        ("fast", "/no_categories", False),
        ("categories", "/categories", False),
        ("think", "/categories", True),
    ],
)
def test_n35_own_categories_go_as_custom_taxonomy(
    mode: str, categories: str, thinking: bool
) -> None:
    request = Nemotron35ContentSafety().render(
        Exchange("hi"),
        Policy(categories=OWN, mode=mode),  # type: ignore[arg-type]
    )
    assert request.chat_template_kwargs == {
        "enable_thinking": thinking,
        "custom_taxonomy": OWN_LINES,
        "request_categories": categories,
    }
    assert request.form == "custom_taxonomy" and request.messages == (
        {"role": "user", "content": "hi"},
    )


def test_n35_extra_categories_send_the_whole_list_as_custom_taxonomy() -> None:
    family = Nemotron35ContentSafety()
    request = family.render(Exchange("hi"), Policy(extra_categories=("Competitors",)))
    kwargs = dict(request.chat_template_kwargs or {})
    lines = kwargs.pop("custom_taxonomy").split("\n")
    assert kwargs == {"enable_thinking": False, "request_categories": "/no_categories"}
    assert lines[23:] == ["S24: Economic Harm.", "S25: Competitors."] and len(lines) == 25
    narrowed = family.render(
        Exchange("hi"), Policy(extra_categories=("Competitors",), exclude_categories={"Threat"})
    )
    taxonomy = (narrowed.chat_template_kwargs or {})["custom_taxonomy"]
    assert "S11: Threat." not in taxonomy and "S25: Competitors." in taxonomy
    assert (narrowed.chat_template_kwargs or {})["request_categories"] == "/categories"
    # and it is no longer refused when a Guard is built
    guard = Guard(
        ScriptedBackend({"rival": "Competitors"}, model=N35),
        Policy(extra_categories=("Competitors",)),
    )
    assert not guard.check("switch to our rival").allowed


def test_a_custom_policy_alone_replaces_instructions_and_taxonomy_on_3_5() -> None:
    request = Nemotron35ContentSafety().render(
        Exchange("hi"), Policy(custom="Only cooking.", mode="categories")
    )
    # custom_policy is sent without request_categories (the NVIDIA endpoint refuses both)
    assert request.chat_template_kwargs == {
        "enable_thinking": False,
        "custom_policy": "Only cooking.",
    }
    assert request.form == "custom_policy" and request.codes is None


def test_the_same_yaml_works_on_every_family(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(YAML)
    policy = PolicySet.from_file(path).get("support")
    assert policy.categories == OWN
    for name in ("csr4b", "nemotron35", "nemoguard8b"):
        family = get_family(name)
        family.check_policy(policy)
        request = family.render(Exchange("hi", "ok"), policy)
        assert request.form == "custom_taxonomy"
        shown = request.prompt or str(request.chat_template_kwargs)
        assert "S1: Competitors. Praise for" in shown and "S2: Legal Advice." in shown
        assert "Violence" not in shown
    assert render_taxonomy(OWN) == OWN_LINES


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("categories: []", "categories is empty"),
        ("categories: [A, a]", "listed twice"),
        ("categories: ['Rivals, partners']", "cannot hold ','"),
        ("categories: [{name: ''}]", "at least 1 character"),
        ("categories: [{name: x, colour: red}]", "colour"),
        ("categories: [A]\n  custom: be nice", "custom replaces the instructions"),
        ("categories: [A]\n  exclude_categories: [Violence]", "list exactly the categories"),
        ("categories: [A]\n  extra_categories: [B]", "list exactly the categories"),
        ('categories: [{name: A, description: "two\\nlines"}]', "must be one line"),
        ("extra_categories: ['a, b']", "without ',' or ';'"),
    ],
)
def test_bad_categories_are_policy_errors_naming_the_key(
    tmp_path: Path, body: str, needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"default:\n  {body}\n")
    with pytest.raises(PolicyError, match=needle) as info:
        PolicySet.from_file(path)
    assert str(path) in str(info.value) and "default" in str(info.value)


def test_categories_change_the_version() -> None:
    assert Policy(categories=OWN).version != Policy(categories=OWN[:1]).version
    assert Policy(categories=OWN).version != Policy().version
    assert Policy(categories=["Legal Advice"]).categories == (Category(name="Legal Advice"),)
