"""Policies: what is judged unsafe, how hard the guard thinks, and what happens on a block.

>>> devops = Policy(name="devops", exclude_categories={"Violence"}, actions={"tool_call": "block"})
>>> devops.action_for("tool_result")
'block'
>>> policies = PolicySet({"devops": devops}, default=Policy(name="general"))
>>> policies.get("devops").name, policies.get(None).name
('devops', 'general')
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from guard_core.content import SURFACES, Surface
from guard_core.errors import ConfigurationError, PolicyError
from guard_core.taxonomy import CATEGORIES, Category, canonical_category

__all__ = ["Action", "Category", "CustomPolicy", "Mode", "OnError", "Policy", "PolicySet"]

Mode: TypeAlias = Literal["fast", "categories", "think"]
Action: TypeAlias = Literal["block", "redact", "drop", "flag"]
OnError: TypeAlias = Literal["block", "allow"]


class CustomPolicy(BaseModel):
    """A natural-language policy that replaces the model's introduction and taxonomy.

    >>> print(CustomPolicy(text="A telco bot.", disallowed=["talk about competitors"]).render())
    A telco bot.
    <BLANKLINE>
    Disallowed:
    - talk about competitors
    <BLANKLINE>
    Content is harmful if it matches any disallowed behaviour.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = ""
    allowed: tuple[str, ...] = ()
    disallowed: tuple[str, ...] = ()

    if TYPE_CHECKING:
        # What the constructor takes: a list of rules is made a tuple. (mypy would otherwise
        # read each field's type as its parameter's and refuse disallowed=[...].)
        def __init__(
            self,
            *,
            text: str = ...,
            allowed: Sequence[str] = ...,
            disallowed: Sequence[str] = ...,
        ) -> None: ...

    @model_validator(mode="after")
    def _not_empty(self) -> CustomPolicy:
        if not (self.text.strip() or self.allowed or self.disallowed):
            raise ValueError("a custom policy needs text, allowed or disallowed rules")
        return self

    def render(self) -> str:
        """The policy text the guard model reads in place of its introduction and taxonomy."""
        parts = [self.text.strip()] if self.text.strip() else []
        if self.allowed:
            parts.append("Allowed:\n" + "\n".join(f"- {rule}" for rule in self.allowed))
        if self.disallowed:
            parts.append("Disallowed:\n" + "\n".join(f"- {rule}" for rule in self.disallowed))
            parts.append("Content is harmful if it matches any disallowed behaviour.")
        return "\n\n".join(parts)


class Policy(BaseModel):
    """One agent's policy. Immutable; ``version`` hashes its content and keys the cache.

    - ``mode``: ``fast`` (verdict only), ``categories`` (+ violated categories),
      ``think`` (+ a reasoning trace kept as audit evidence).
    - ``exclude_categories``: standard categories this agent does not care about (any
      family's name, ``Economic Harm`` included; a family without it is unaffected).
    - ``extra_categories``: names appended to the model's own taxonomy.
    - ``categories``: a taxonomy of the policy's own (names and descriptions) in place of
      the model's list, under the model's standard instructions ("custom taxonomy").
    - ``custom``: a natural-language policy in place of the model's introduction *and*
      taxonomy ("custom policy"). ``categories`` and ``custom`` exclude each other and the
      two category fields above.
    - ``surfaces``: what this policy screens; ``actions``: per surface, what adapters do on
      a block (``block`` by default).
    - ``on_error``: ``block`` (default; a guard failure never lets content through) or
      ``allow`` (content passes, the error is audited).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="default", min_length=1)
    mode: Mode = "fast"
    exclude_categories: frozenset[str] = frozenset()
    extra_categories: tuple[str, ...] = ()
    categories: tuple[Category, ...] | None = None
    custom: CustomPolicy | None = None
    surfaces: frozenset[Surface] = frozenset(SURFACES)
    actions: Mapping[Surface, Action] = Field(default_factory=dict)
    on_error: OnError = "block"
    description: str = ""

    if TYPE_CHECKING:
        # What the constructor takes, wider than what the fields hold: a set or list is made a
        # frozenset or tuple, a string a CustomPolicy(text=...), a name or mapping a Category.
        # (mypy would otherwise read each field's type as its parameter's and refuse the
        # documented exclude_categories={"Violence"} or custom="...".)
        def __init__(
            self,
            *,
            name: str = ...,
            mode: Mode = ...,
            exclude_categories: AbstractSet[str] | Sequence[str] = ...,
            extra_categories: Sequence[str] = ...,
            categories: Sequence[Category | str | Mapping[str, str]] | None = ...,
            custom: CustomPolicy | str | Mapping[str, Any] | None = ...,
            surfaces: AbstractSet[Surface] | Sequence[Surface] = ...,
            actions: Mapping[Surface, Action] = ...,
            on_error: OnError = ...,
            description: str = ...,
        ) -> None: ...

    @field_validator("exclude_categories", mode="after")
    @classmethod
    def _known_categories(cls, value: frozenset[str]) -> frozenset[str]:
        out = set()
        for name in value:
            canonical = canonical_category(name)
            if canonical is None:
                raise ValueError(f"unknown category {name!r}; known: {', '.join(CATEGORIES)}")
            out.add(canonical)
        return frozenset(out)

    @field_validator("extra_categories", mode="after")
    @classmethod
    def _listable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(name.strip().rstrip(".").strip() for name in value)
        for name in names:
            if not name or any(c in name for c in ",;\n\r"):
                raise ValueError(
                    f"extra category {name!r}: give a one-line name without ',' or ';'"
                )
        return names

    @field_validator("custom", mode="before")
    @classmethod
    def _custom_from_text(cls, value: object) -> object:
        return {"text": value} if isinstance(value, str) else value

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_from_names(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        narrowed = self.exclude_categories or self.extra_categories
        if self.custom is not None and (narrowed or self.categories is not None):
            raise ValueError(
                "custom replaces the instructions and the taxonomy: drop "
                "exclude_categories/extra_categories/categories, or write them into the "
                "custom policy"
            )
        if self.categories is not None:
            if narrowed:
                raise ValueError(
                    "categories replaces the taxonomy: drop exclude_categories/"
                    "extra_categories and list exactly the categories to judge by"
                )
            if not self.categories:
                raise ValueError("categories is empty: list at least one, or leave it out")
            seen: set[str] = set()
            for category in self.categories:
                if category.name.lower() in seen:
                    raise ValueError(f"category {category.name!r} is listed twice")
                seen.add(category.name.lower())
        return self

    @cached_property
    def version(self) -> str:
        """A short hash of everything that changes a verdict (not the description)."""
        payload = self.model_dump(mode="json", exclude={"description"})
        for key in ("exclude_categories", "surfaces"):
            payload[key] = sorted(payload[key])
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def screens(self, surface: Surface) -> bool:
        """Whether this policy screens ``surface`` at all."""
        return surface in self.surfaces

    def action_for(self, surface: Surface) -> Action:
        """What adapters do with a blocked item on ``surface``."""
        return self.actions.get(surface, "block")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> Policy:
        """Build a policy; a bad value raises :class:`PolicyError` naming key and value."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _policy_error(exc, source, prefix="") from None


class PolicySet:
    """Agent name -> :class:`Policy`, with a default for every other agent.

    An agent not in the set gets the default policy; with no default, it is a
    :class:`ConfigurationError` naming the known agents (never an unscreened pass).

    YAML layout (TOML is the same shape)::

        default: {mode: fast}
        agents:
          devops: {exclude_categories: [Violence]}
          support: {custom: {disallowed: ["discuss competitors"]}, mode: think}
          sales: {categories: [{name: Competitors, description: "Other carriers."}]}
    """

    def __init__(self, policies: Mapping[str, Policy], default: Policy | None = None) -> None:
        for agent, policy in policies.items():
            if not isinstance(policy, Policy):
                raise PolicyError(f"policy for agent {agent!r} must be a Policy")
        self._policies = dict(policies)
        self.default = default

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(self._policies)

    def get(self, agent: str | None) -> Policy:
        """The policy that judges ``agent`` (None: the default)."""
        if agent is not None and agent in self._policies:
            return self._policies[agent]
        if self.default is not None:
            return self.default
        raise ConfigurationError(
            f"no policy for agent {agent!r} and no default policy; "
            f"known agents: {', '.join(self._policies) or '(none)'}"
        )

    def __iter__(self) -> Any:
        return iter(self._policies.items())

    def __repr__(self) -> str:
        default = self.default.name if self.default else None
        return f"PolicySet(agents={list(self._policies)}, default={default!r})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> PolicySet:
        """Build from ``{"default": {...}, "agents": {name: {...}}}``.

        Every error of the file is reported at once, in one :class:`PolicyError` (one line
        each, naming file, key and value), not only the first.
        """
        if not isinstance(data, Mapping):
            raise PolicyError(f"{source}: top level must be a mapping with 'default' and 'agents'")
        problems: list[str] = [
            f"{source}: unknown top-level key {key!r}; use 'default' and 'agents'"
            for key in sorted(map(str, set(data) - {"default", "agents"}))
        ]
        default = None
        if data.get("default") is not None:
            default = _collect(problems, data["default"], source, "default", "default")
        agents = data.get("agents") or {}
        policies: dict[str, Policy] = {}
        if not isinstance(agents, Mapping):
            problems.append(f"{source}: 'agents' must map agent names to policies")
        else:
            for name, body in agents.items():
                policy = _collect(problems, body, source, f"agents.{name}", str(name))
                if policy is not None:
                    policies[str(name)] = policy
        if problems:
            raise _many(problems, source)
        if default is None and not policies:
            raise PolicyError(f"{source}: defines no policy; add 'default:' or 'agents:'")
        return cls(policies, default)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PolicySet:
        """Load a policy set from a YAML file."""
        import yaml

        text = _read(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_dict(data or {}, source=str(path))

    @classmethod
    def from_toml(cls, path: str | Path) -> PolicySet:
        """Load a policy set from a TOML file."""
        try:
            data = tomllib.loads(_read(path))
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_file(cls, path: str | Path) -> PolicySet:
        """Load a ``.yaml``/``.yml`` or ``.toml`` policy file."""
        suffix = Path(path).suffix.lower()
        if suffix == ".toml":
            return cls.from_toml(path)
        if suffix in (".yaml", ".yml"):
            return cls.from_yaml(path)
        raise PolicyError(f"{path}: unknown policy file type {suffix!r}; use .yaml or .toml")


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from None


def _build(body: object, source: str, where: str, name: str) -> Policy:
    if not isinstance(body, Mapping):
        raise PolicyError(f"{source}: {where}: must be a mapping of policy fields, got {body!r}")
    try:
        return Policy.model_validate({"name": name, **body})
    except ValidationError as exc:
        raise PolicyError("\n".join(_error_lines(exc, source, f"{where}."))) from None


def _collect(
    problems: list[str], body: object, source: str, where: str, name: str
) -> Policy | None:
    """The policy ``body`` describes, or None with its errors added to ``problems``."""
    try:
        return _build(body, source, where, name)
    except PolicyError as exc:
        problems.extend(str(exc).splitlines())
        return None


def _error_lines(exc: ValidationError, source: str, prefix: str) -> list[str]:
    lines = []
    for err in exc.errors():
        key = prefix + ".".join(str(part) for part in err["loc"])
        lines.append(f"{source}: {key.rstrip('.')}: {err['msg']} (got {err.get('input')!r})")
    return lines


def _many(lines: list[str], source: str) -> PolicyError:
    """One error for all of ``lines``; more than one get a first line saying how many."""
    if len(lines) == 1:
        return PolicyError(lines[0])
    return PolicyError("\n".join([f"{source}: {len(lines)} errors, fix each:", *lines]))


def _policy_error(exc: ValidationError, source: str, prefix: str) -> PolicyError:
    return _many(_error_lines(exc, source, prefix), source)
