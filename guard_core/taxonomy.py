"""The Aegis 2.0 content-safety categories, as the Nemotron guard models number them.

The Content Safety Reasoning 4B template lists 22 categories (no "Other"); the NemoGuard 8B
template lists 23, with ``S14: Other`` shifting the rest by one. Nemotron 3.5 answers with
category *names* from the same list and its vocabulary is open (``Economic Harm`` has been seen).

>>> canonical_category("violence")
'Violence'
>>> NEMOGUARD_CATEGORIES["S14"]
'Other'
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CATEGORIES",
    "CSR4B_CATEGORIES",
    "NEMOGUARD_CATEGORIES",
    "canonical_category",
    "normalize_categories",
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

CSR4B_CATEGORIES: dict[str, str] = {f"S{i}": n for i, n in enumerate(_CSR4B_NAMES, 1)}
"""Code -> name, as numbered in the Content Safety Reasoning 4B template."""
NEMOGUARD_CATEGORIES: dict[str, str] = {f"S{i}": n for i, n in enumerate(_NEMOGUARD_NAMES, 1)}
"""Code -> name, as numbered in the NemoGuard 8B (Aegis 2.0) template."""
CATEGORIES: tuple[str, ...] = _NEMOGUARD_NAMES
"""Every standard category name (the 23 of Aegis 2.0)."""

_BY_LOWER = {name.lower(): name for name in CATEGORIES}


def canonical_category(name: str) -> str | None:
    """The standard spelling of a category name, or None when it is not a standard one."""
    return _BY_LOWER.get(name.strip().rstrip(".").lower())


def normalize_categories(raw: str, codes: dict[str, str] | None = None) -> tuple[str, ...]:
    """Split a model's ``a, b`` category list; map ``S1``-style codes and fix spelling.

    Unknown names are kept as the model wrote them (the vocabulary is open).
    """
    out: list[str] = []
    for part in _split(raw):
        name = part.strip().rstrip(".").strip()
        if not name or name.lower() == "none":
            continue
        if codes is not None and name.upper() in codes:
            name = codes[name.upper()]
        name = canonical_category(name) or name
        if name not in out:
            out.append(name)
    return tuple(out)


def _split(raw: str) -> Iterable[str]:
    # Names contain "/" but never ","; some deployments separate with ";" instead.
    return raw.replace(";", ",").split(",")
