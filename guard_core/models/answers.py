"""Reading verdict lines as the models write them, and finding the labels in an answer.

A verdict line is ``Key: value``, and may carry one remark the model adds in brackets,
``User Safety: safe (no assistant response present)``, or a final full stop: it is read as
its verdict. Anything else after the value (free text, a second ``Key: value``), a remark
that is not plain text, or one that contains a verdict word of its own (``safe``, ``harm``,
``none``, in any case or inside a longer word) makes the line ambiguous: an error, never a
guess.

>>> import re
>>> line = re.compile(r"^(user|response)[ \\t]+safety[ \\t]*:[ \\t]*([A-Za-z]+)(.*)$", re.I)
>>> read_verdict("User Safety: safe (no assistant response present)", line,
...              {"user": ("safe", "unsafe")}, "safety")
('user', 'safe')
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from guard_core.errors import ModelOutputError

__all__ = ["LabelSpan", "find_labels", "read_verdict"]

_REMARK = re.compile(r"[.!]|[ \t]*(?:\([^()]*\)|\[[^\[\]]*\])\.?")
_VERDICT_WORD = re.compile(r"safe|harm|\bnone\b", re.IGNORECASE)


def read_verdict(
    line: str, pattern: re.Pattern[str], legal: Mapping[str, Collection[str]], noun: str
) -> tuple[str, str] | None:
    """``(key, value)`` of a verdict line (lowercased), None if ``line`` is not one.

    ``pattern`` matches the whole stripped line with three groups: key, value word,
    remark. Raises :class:`ModelOutputError` for an illegal value or an ambiguous remark.
    """
    match = pattern.match(line)
    if match is None:
        return None
    key, value, remark = match.group(1).lower(), match.group(2).lower(), match.group(3)
    name = f"'{key} {noun}'"
    if value not in legal[key]:
        raise ModelOutputError(f"illegal value for {name}: {match.group(2)!r}")
    if remark and not (
        _REMARK.fullmatch(remark) and remark.isprintable() and not _VERDICT_WORD.search(remark)
    ):
        raise ModelOutputError(
            f"the {name} line is not its verdict alone or with one plain remark in brackets: "
            f"{line[:80]!r}"
        )
    return key, value


@dataclass(frozen=True, slots=True)
class LabelSpan:
    """Where one verdict line's label sits in an answer: ``text[start:end]`` is the label
    as written; ``line_start`` is where that line (its key) begins."""

    line_start: int
    start: int
    end: int
    label: str


def find_labels(text: str, keys: Sequence[str], labels: Sequence[str]) -> list[LabelSpan] | None:
    """The label of each key (``"Prompt harm:"``, in order) in ``text`` after any leading
    ``<think>`` block, matched case-insensitively with any spacing; None where a key is
    missing, out of order, or not followed by one of ``labels``."""
    head = 0
    if text.lstrip().startswith("<think>"):
        end = text.find("</think>")
        if end < 0:
            return None
        head = end + len("</think>")
    words = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    found: list[LabelSpan] = []
    at = head
    for key in keys:
        parts = [re.escape(part) for part in key.rstrip(":").split()]
        pattern = re.compile(
            r"(?im)(?:^|(?<=</think>))[ \t]*("
            + r"[ \t]+".join(parts)
            + r")[ \t]*:[ \t]*("
            + words
            + r")\b"
        )
        match = pattern.search(text, at)
        if match is None:
            return None
        found.append(LabelSpan(match.start(1), match.start(2), match.end(2), match.group(2)))
        at = match.end(2)
    return found
