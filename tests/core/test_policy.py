"""Policy and PolicySet: validation, versions, loading from files, agent selection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from guard_core import Guard, Policy, PolicySet
from guard_core.errors import ConfigurationError, PolicyError
from guard_core.policy import CustomPolicy
from guard_core.testing import ScriptedBackend

from ._support import CSR, NEMOGUARD

YAML = """\
default:
  mode: fast
agents:
  devops:
    exclude_categories: [Violence, profanity]
    actions: {tool_call: block, tool_result: redact}
  support:
    mode: think
    on_error: allow
    custom:
      text: A telco support assistant.
      disallowed: ["discuss competitors"]
  research:
    surfaces: [input, retrieval]
"""

TOML = """\
[default]
mode = "fast"

[agents.devops]
exclude_categories = ["Violence", "profanity"]
actions = { tool_call = "block", tool_result = "redact" }

[agents.support]
mode = "think"
on_error = "allow"
custom = { text = "A telco support assistant.", disallowed = ["discuss competitors"] }

[agents.research]
surfaces = ["input", "retrieval"]
"""


def _check_loaded(policies: PolicySet) -> None:
    assert set(policies.agents) == {"devops", "support", "research"}
    devops = policies.get("devops")
    assert devops.name == "devops"
    assert devops.exclude_categories == frozenset({"Violence", "Profanity"})
    assert devops.action_for("tool_result") == "redact"
    assert devops.action_for("output") == "block"
    support = policies.get("support")
    assert (support.mode, support.on_error) == ("think", "allow")
    assert support.custom == CustomPolicy(
        text="A telco support assistant.", disallowed=("discuss competitors",)
    )
    research = policies.get("research")
    assert research.screens("retrieval") and not research.screens("tool_call")
    assert policies.get(None).name == "default"
    assert policies.get("someone-else") is policies.default


def test_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(YAML)
    _check_loaded(PolicySet.from_yaml(path))
    _check_loaded(PolicySet.from_file(str(path)))


def test_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text(TOML)
    _check_loaded(PolicySet.from_toml(path))
    _check_loaded(PolicySet.from_file(path))


def test_yaml_and_toml_give_the_same_versions(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(YAML)
    (tmp_path / "p.toml").write_text(TOML)
    from_yaml, from_toml = (
        PolicySet.from_file(tmp_path / "p.yaml"),
        PolicySet.from_file(tmp_path / "p.toml"),
    )
    for agent in ("devops", "support", "research", None):
        assert from_yaml.get(agent).version == from_toml.get(agent).version


def test_from_dict() -> None:
    policies = PolicySet.from_dict({"agents": {"a": {"mode": "categories"}}})
    assert policies.get("a").mode == "categories"
    assert policies.default is None
    assert Policy.from_dict({"name": "x", "mode": "think"}).mode == "think"


@pytest.mark.parametrize(
    ("body", "key", "bad"),
    [
        ("agents:\n  devops:\n    mode: turbo\n", "agents.devops.mode", "'turbo'"),
        (
            "agents:\n  devops:\n    actions: {tool_call: explode}\n",
            "agents.devops.actions.tool_call",
            "'explode'",
        ),
        (
            "agents:\n  devops:\n    exclude_categories: [Violense]\n",
            "agents.devops.exclude_categories",
            "Violense",
        ),
        ("default:\n  on_error: ignore\n", "default.on_error", "'ignore'"),
        ("default:\n  surfaces: [inputs]\n", "default.surfaces", "'inputs'"),
        ("default:\n  colour: red\n", "default.colour", "'red'"),
        ("default:\n  name: ''\n", "default.name", "''"),
    ],
)
def test_bad_yaml_value_names_file_key_and_value(
    tmp_path: Path, body: str, key: str, bad: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(PolicyError) as info:
        PolicySet.from_yaml(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert bad in message


def test_bad_toml_value_names_file_key_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[agents.ops]\nmode = "turbo"\n')
    with pytest.raises(PolicyError, match=r"bad\.toml: agents\.ops\.mode: .*\(got 'turbo'\)"):
        PolicySet.from_toml(path)


def test_exact_error_message_for_a_bad_mode(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  devops:\n    mode: turbo\n")
    with pytest.raises(PolicyError) as info:
        PolicySet.from_yaml(path)
    assert str(info.value) == (
        f"{path}: agents.devops.mode: Input should be 'fast', 'categories' or 'think' (got 'turbo')"
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("default: [1, 2\n", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("owners: {}\n", "unknown top-level key 'owners'"),
        ("agents: [a, b]\n", "'agents' must map agent names"),
        ("agents:\n  ops: fast\n", "agents.ops: must be a mapping"),
        ("", "defines no policy"),
    ],
)
def test_bad_yaml_structure(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=match) as info:
        PolicySet.from_yaml(path)
    assert str(path) in str(info.value)


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        PolicySet.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="not valid TOML"):
        (tmp_path / "p.toml").write_text("[agents\n")
        PolicySet.from_toml(tmp_path / "p.toml")
    with pytest.raises(PolicyError, match=r"unknown policy file type '\.json'"):
        PolicySet.from_file(tmp_path / "p.json")


def test_unknown_and_canonical_category_names() -> None:
    with pytest.raises(ValidationError, match="unknown category 'Violense'"):
        Policy(exclude_categories={"Violense"})
    policy = Policy(exclude_categories={" violence ", "PII/privacy", "Sexual (minor)."})
    assert policy.exclude_categories == {"Violence", "PII/Privacy", "Sexual (minor)"}


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "slow"},
        {"on_error": "ignore"},
        {"name": ""},
        {"surfaces": {"everything"}},
        {"actions": {"input": "explode"}},
        {"custom": "policy", "exclude_categories": {"Violence"}},
        {"custom": {"text": "  "}},
        {"categories": []},
        {"categories": ["A"], "custom": "policy"},
        {"categories": [{"name": "A", "colour": "red"}]},
        {"unknown_field": 1},
    ],
)
def test_policy_validation(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Policy(**fields)  # type: ignore[arg-type]


def test_policy_is_immutable() -> None:
    policy = Policy()
    with pytest.raises(ValidationError):
        policy.mode = "think"


def test_version_is_stable_and_tracks_content() -> None:
    base = Policy(name="a", exclude_categories={"Violence", "Threat", "Profanity"})
    same = Policy(
        name="a",
        exclude_categories=["Profanity", "threat", "violence"],
        description="only a description differs",
    )
    assert base.version == same.version
    assert len(base.version) == 12
    changed = [
        Policy(name="b", exclude_categories={"Violence", "Threat", "Profanity"}),
        Policy(name="a", exclude_categories={"Violence", "Threat"}),
        Policy(name="a", exclude_categories={"Violence", "Threat", "Profanity"}, mode="think"),
        Policy(name="a", exclude_categories={"Violence", "Threat", "Profanity"}, on_error="allow"),
        Policy(
            name="a",
            exclude_categories={"Violence", "Threat", "Profanity"},
            actions={"output": "redact"},
        ),
        Policy(
            name="a", exclude_categories={"Violence", "Threat", "Profanity"}, surfaces={"input"}
        ),
    ]
    versions = {p.version for p in changed}
    assert base.version not in versions and len(versions) == len(changed)
    assert Policy(custom="x").version != Policy(custom="y").version


def test_version_is_the_same_in_another_process() -> None:
    """Sets are sorted before hashing, so hash randomisation cannot change a version."""
    code = (
        "from guard_core import Policy; print(Policy(name='a', surfaces={'input', 'output', "
        "'image', 'retrieval'}, exclude_categories={'Violence', 'Threat', 'Malware'}).version)"
    )
    here = Policy(
        name="a",
        surfaces={"input", "output", "image", "retrieval"},
        exclude_categories={"Violence", "Threat", "Malware"},
    ).version
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert out.stdout.strip() == here


def test_custom_policy_render() -> None:
    custom = CustomPolicy(text=" Bot. ", allowed=["billing"], disallowed=["competitors", "jokes"])
    assert custom.render() == (
        "Bot.\n\nAllowed:\n- billing\n\nDisallowed:\n- competitors\n- "
        "jokes\n\nContent is harmful if it matches any disallowed "
        "behaviour."
    )
    assert Policy(custom="just text").custom == CustomPolicy(text="just text")


def test_unknown_agent_gets_the_default_or_a_clear_error() -> None:
    with_default = PolicySet({"ops": Policy(name="ops")}, default=Policy(name="fallback"))
    assert with_default.get("ops").name == "ops"
    assert with_default.get("nobody").name == "fallback"
    without = PolicySet({"ops": Policy(name="ops"), "hr": Policy(name="hr")})
    with pytest.raises(ConfigurationError, match=r"no policy for agent 'nobody'.*ops, hr"):
        without.get("nobody")
    with pytest.raises(ConfigurationError, match="no policy for agent None"):
        without.get(None)


def test_guard_with_unknown_agent_and_no_default_raises_instead_of_passing() -> None:
    guard = Guard(ScriptedBackend(), PolicySet({"ops": Policy(name="ops")}))
    assert guard.check("hi", agent="ops").policy.name == "ops"
    with pytest.raises(ConfigurationError, match="known agents: ops"):
        guard.check("hi", agent="intruder")
    with pytest.raises(ConfigurationError):
        guard.check("hi")


def test_policyset_rejects_non_policies() -> None:
    with pytest.raises(PolicyError, match="agent 'ops' must be a Policy"):
        PolicySet({"ops": {"mode": "fast"}})  # type: ignore[dict-item]


def test_family_rejects_modes_it_cannot_do() -> None:
    with pytest.raises(ConfigurationError, match="does not report categories"):
        Guard(ScriptedBackend(model=CSR), Policy(mode="categories"))
    with pytest.raises(ConfigurationError, match="mode 'think' is not supported by nemoguard8b"):
        Guard(ScriptedBackend(model=NEMOGUARD), PolicySet({"a": Policy(mode="think")}))
    # Nemotron 3.5 takes extra categories as a custom taxonomy now (tests/core/test_taxonomies)
    Guard(ScriptedBackend(), Policy(extra_categories=("Competitors",)))
