"""What every check must give back whatever an endpoint answered: verdicts that can be
shown, and one parseable audit line per verdict."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from hypothesis import strategies as st

from guard_core import Verdict

N35 = "nvidia/nemotron-3.5-content-safety"
CSR = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
NEMOGUARD = "nvidia/llama-3.1-nemoguard-8b-content-safety"

# Characters an endpoint can send in JSON that break naive code: lone surrogates (a JSON
# "\ud800" escape), NUL and other controls, Unicode line breaks, a BOM, ANSI escapes.
ODD_CHARS = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(categories=["Cs", "Cc", "Zl", "Zp", "Cf"]),
    st.sampled_from(
        ["\x00", "\ud800", "\udfff", "\udcff", "\u2028", "\x85", "\ufeff", "\x1b", "\r", "\n"]
    ),
)
ODD_TEXT = st.text(alphabet=ODD_CHARS, max_size=30)
VALID = {
    N35: ["User Safety: safe", "User Safety: unsafe\nSafety Categories: Violence"],
    CSR: [
        "Prompt harm: unharmful\nResponse harm: None",
        "Prompt harm: harmful\nResponse harm: None",
    ],
    NEMOGUARD: [
        '{"User Safety": "safe"}',
        '{"User Safety": "unsafe", "Safety Categories": "Violence"}',
    ],
}


def answers(model: str) -> st.SearchStrategy[str]:
    """Anything at all, or a valid answer with odd text glued before, after or inside."""
    valid = st.sampled_from(VALID[model])
    return st.one_of(
        ODD_TEXT,
        st.builds(lambda a, v, b: a + v + b, ODD_TEXT, valid, ODD_TEXT),
        st.builds(lambda v, b: f"{v}\n{b}", valid, ODD_TEXT),
        st.builds(lambda v, b: v.replace("afe", "afe" + b, 1), valid, ODD_TEXT),
        valid,
    )


def assert_sound(verdicts: Sequence[object], audit: Path, expected_lines: int) -> None:
    """Verdicts that fail closed and can be shown; the audit file holds exactly
    ``expected_lines`` lines of valid UTF-8 JSON, the last ones being these verdicts."""
    assert all(isinstance(v, Verdict) for v in verdicts)
    for v in verdicts:
        assert isinstance(v, Verdict)
        assert v.error is None or not v.allowed  # on_error="block": a failure never passes
        for shown in (
            repr(v),
            v.reason,
            v._repr_html_(),
            v._repr_markdown_(),
            json.dumps(v.to_dict(), ensure_ascii=False),
            str(v.reasoning),
            ",".join(v.categories),
            v.model,
        ):
            shown.encode("utf-8")
    lines = audit.read_bytes().decode("utf-8").splitlines()
    assert len(lines) == expected_lines
    records = [json.loads(line) for line in lines[len(lines) - len(verdicts) :]]
    assert [r["allowed"] for r in records] == [v.allowed for v in verdicts]  # type: ignore[attr-defined]
    assert [r["error"] for r in records] == [v.error for v in verdicts]  # type: ignore[attr-defined]
