"""The content-safety categories, as each Nemotron guard model numbers them.

The Content Safety Reasoning 4B template lists 22 categories (no "Other"); the NemoGuard 8B
template lists the 23 of Aegis 2.0, with ``S14: Other`` shifting the rest by one; Nemotron
3.5's server-side template lists those 23 and ``S24: Economic Harm``. A policy may also bring
its own list (:class:`Category`), rendered ``S1: Name. Description.`` as the models read it.

>>> canonical_category("violence")
'Violence'
>>> NEMOGUARD_CATEGORIES["S14"], NEMOTRON35_CATEGORIES["S24"]
('Other', 'Economic Harm')
>>> render_taxonomy([Category(name="Competitors", description="Other carriers' offers.")])
"S1: Competitors. Other carriers' offers."
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CATEGORIES",
    "CSR4B_CATEGORIES",
    "NEMOGUARD_CATEGORIES",
    "NEMOTRON35_CATEGORIES",
    "Category",
    "canonical_category",
    "normalize_categories",
    "render_taxonomy",
]

_CSR4B_NAMES = (
    "Violence",
    "Sexual",
    "Criminal Planning/Confessions",
    "Guns and Illegal Weapons",
    "Controlled/Regulated Substances",
    "Suicide and Self Harm",
    "Sexual (minor)",
    "Hate/Identity Hate",
    "PII/Privacy",
    "Harassment",
    "Threat",
    "Profanity",
    "Needs Caution",
    "Manipulation",
    "Fraud/Deception",
    "Malware",
    "High Risk Gov Decision Making",
    "Political/Misinformation/Conspiracy",
    "Copyright/Trademark/Plagiarism",
    "Unauthorized Advice",
    "Illegal Activity",
    "Immoral/Unethical",
)
_NEMOGUARD_NAMES = (*_CSR4B_NAMES[:13], "Other", *_CSR4B_NAMES[13:])
_NEMOTRON35_NAMES = (*_NEMOGUARD_NAMES, "Economic Harm")

CSR4B_CATEGORIES: dict[str, str] = {f"S{i}": n for i, n in enumerate(_CSR4B_NAMES, 1)}
"""Code -> name, as numbered in the Content Safety Reasoning 4B template."""
NEMOGUARD_CATEGORIES: dict[str, str] = {f"S{i}": n for i, n in enumerate(_NEMOGUARD_NAMES, 1)}
"""Code -> name, as numbered in the NemoGuard 8B (Aegis 2.0) template."""
NEMOTRON35_CATEGORIES: dict[str, str] = {f"S{i}": n for i, n in enumerate(_NEMOTRON35_NAMES, 1)}
"""Code -> name, as numbered in Nemotron 3.5's default taxonomy (S24: Economic Harm)."""
CATEGORIES: tuple[str, ...] = _NEMOTRON35_NAMES
"""Every standard category name of any family (the 23 of Aegis 2.0 and Economic Harm)."""

_BY_LOWER = {name.lower(): name for name in CATEGORIES}
_CODED = re.compile(r"^(S\d{1,3})\s*[:.)-]\s*(.+)$", re.IGNORECASE)


class Category(BaseModel):
    """One category of a policy's own taxonomy (``categories:`` in a policy file).

    A bare string is a name without a description. Names are written back by the model
    in a comma-separated list, so they hold no comma; neither field may span lines (the
    model reads the taxonomy one category per line).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""

    @field_validator("name", "description", mode="after")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("must be one line (the model reads one category per line)")
        return value.strip()

    @field_validator("name", mode="after")
    @classmethod
    def _listable(cls, value: str) -> str:
        if not value.rstrip("."):
            raise ValueError("a category needs a name")
        if "," in value or ";" in value:
            raise ValueError("a category name cannot hold ',' or ';' (answers list names so)")
        return value.rstrip(".")

    def line(self, code: str) -> str:
        """``S1: Name. Description.`` as it appears in the taxonomy."""
        return f"{code}: {self.name}." + (f" {self.description}" if self.description else "")


def render_taxonomy(categories: Sequence[Category]) -> str:
    """A category list, one ``S<n>: Name. Description.`` line each, numbered from S1."""
    return "\n".join(c.line(f"S{i}") for i, c in enumerate(categories, 1))


def canonical_category(name: str) -> str | None:
    """The standard spelling of a category name, or None when it is not a standard one."""
    return _BY_LOWER.get(name.strip().rstrip(".").lower())


def normalize_categories(raw: str, codes: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Split a model's ``a, b`` category list; map ``S1``-style codes and fix spelling.

    ``S1: Violence`` reads as ``Violence``. With ``codes`` (the taxonomy the request
    sent), a bare code maps to its name and a name is spelt as that taxonomy spells it.
    Unknown names are kept as the model wrote them (the vocabulary is open).
    """
    spelling = {n.lower(): n for n in (codes or {}).values()}
    out: list[str] = []
    for part in _split(raw):
        name = part.strip().rstrip(".").strip()
        if not name or name.lower() == "none":
            continue
        coded = _CODED.match(name)
        if coded is not None:
            name = coded.group(2).strip().rstrip(".").strip()
        elif codes is not None and name.upper() in codes:
            name = codes[name.upper()]
        name = spelling.get(name.lower()) or canonical_category(name) or name
        if name not in out:
            out.append(name)
    return tuple(out)


def _split(raw: str) -> Iterable[str]:
    # Names contain "/" but never ","; some deployments separate with ";" instead.
    return raw.replace(";", ",").split(",")
