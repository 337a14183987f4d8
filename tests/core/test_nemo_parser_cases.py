"""NeMo Guardrails' published content-safety parser cases, as data: each gives NeMo's verdict
or a fail-closed error here, never a more permissive answer than NeMo's.

Every case of NeMo's tests of ``nemoguardrails.llm.output_parsers`` (the generic
``safe``/``unsafe`` parser, the NemoGuard JSON parser, the Content Safety Reasoning parser and
the Nemotron 3.5 parser with the answers captured from the live NIM) is restated here in
this project's words, with the verdict NeMo gives (``error`` where NeMo's parser raises) and
the one guard-core gives. Where NeMo reads a missing field as unsafe, guard-core raises: the
verdict is then the policy's ``on_error`` (block by default), and a parse error never counts
as safe.
"""

from __future__ import annotations

from typing import Literal

import pytest

from guard_core import Policy
from guard_core.errors import ModelOutputError
from guard_core.models import Completion, Exchange, get_family
from guard_core.policy import Mode

Said = Literal["safe", "unsafe", "error"]
Case = tuple[str, str, str, Said, Said]  # family, slot, answer, NeMo's verdict, ours

# NemoGuard 8B: one JSON object.
NEMOGUARD: list[Case] = [
    ("nemoguard8b", "prompt", '{"User Safety": "safe"}', "safe", "safe"),
    ("nemoguard8b", "prompt", '{"User Safety": "unsafe"}', "unsafe", "unsafe"),
    (
        "nemoguard8b",
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": "S1, S8, S10"}',
        "unsafe",
        "unsafe",
    ),
    ("nemoguard8b", "prompt", '{"User Safety": "SAFE"}', "safe", "safe"),
    (
        "nemoguard8b",
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": "  S1 ,S8 , S10  "}',
        "unsafe",
        "unsafe",
    ),
    (
        "nemoguard8b",
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": ""}',
        "unsafe",
        "unsafe",
    ),
    ("nemoguard8b", "prompt", "", "error", "error"),
    ("nemoguard8b", "prompt", '{"not": json at all}', "error", "error"),
    ("nemoguard8b", "prompt", '{"Response Safety": "safe"}', "error", "error"),
    (
        "nemoguard8b",
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": "Violence"}',
        "unsafe",
        "unsafe",
    ),
    (
        "nemoguard8b",
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": "Violence, Slurs, Adult Content"}',
        "unsafe",
        "unsafe",
    ),
    ("nemoguard8b", "response", '{"Response Safety": "safe"}', "safe", "safe"),
    ("nemoguard8b", "response", '{"Response Safety": "unsafe"}', "unsafe", "unsafe"),
    (
        "nemoguard8b",
        "response",
        '{"Response Safety": "unsafe", "Safety Categories": "S1, S8, S10"}',
        "unsafe",
        "unsafe",
    ),
    ("nemoguard8b", "response", '{"Response Safety": "SAFE"}', "safe", "safe"),
    ("nemoguard8b", "response", "", "error", "error"),
    ("nemoguard8b", "response", '{"not": json at all}', "error", "error"),
    ("nemoguard8b", "response", '{"User Safety": "safe"}', "error", "error"),
    (
        "nemoguard8b",
        "response",
        '{"User Safety": "safe", "Response Safety": "unsafe", "Safety Categories": "S1, S8"}',
        "unsafe",
        "unsafe",
    ),
    (
        "nemoguard8b",
        "response",
        '{"Response Safety": "unsafe", "Safety Categories": "S1"} and then some words',
        "error",
        "error",
    ),
    (
        "nemoguard8b",
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": "S1: Violence, S8: Hate/Identity Hate"}',
        "unsafe",
        "unsafe",
    ),
    (
        "nemoguard8b",
        "response",
        '{"User Safety": "safe", "Response Safety": "unsafe", "Safety Categories": "S11: Adult"}',
        "unsafe",
        "unsafe",
    ),
    ("nemoguard8b", "prompt", "I would rather not answer that.", "error", "error"),
    ("nemoguard8b", "response", "I would rather not answer that.", "error", "error"),
]

# Content Safety Reasoning 4B: "Prompt harm" / "Response harm" lines, any case.
CSR: list[Case] = [
    ("csr4b", "prompt", "Prompt harm: unharmful\nResponse Harm: unharmful", "safe", "safe"),
    ("csr4b", "prompt", "Prompt harm: harmful\nResponse Harm: unharmful", "unsafe", "unsafe"),
    (
        "csr4b",
        "prompt",
        "<think>\nA question about stretching: nothing harmful.\n</think>\n\n"
        "Prompt harm: unharmful\nResponse Harm: unharmful",
        "safe",
        "safe",
    ),
    (
        "csr4b",
        "prompt",
        "<think>\nIt asks how to pick a lock to get into a neighbour's flat (S21).\n</think>\n\n"
        "Prompt harm: harmful\nResponse Harm: unharmful",
        "unsafe",
        "unsafe",
    ),
    ("csr4b", "prompt", "PROMPT HARM: UNHARMFUL", "safe", "safe"),
    ("csr4b", "prompt", "Response Harm: unharmful", "unsafe", "error"),
    ("csr4b", "prompt", "", "unsafe", "error"),
    ("csr4b", "prompt", "I would rather not answer that.", "unsafe", "error"),
    ("csr4b", "response", "Prompt harm: unharmful\nResponse Harm: unharmful", "safe", "safe"),
    ("csr4b", "response", "Prompt harm: unharmful\nResponse Harm: harmful", "unsafe", "unsafe"),
    (
        "csr4b",
        "response",
        "<think>\nThe reply gives stretching tips; that is fine.\n</think>\n\n"
        "Prompt harm: unharmful\nResponse Harm: unharmful",
        "safe",
        "safe",
    ),
    (
        "csr4b",
        "response",
        "<think>\nThe reply describes how to hurt someone (S1).\n</think>\n\n"
        "Prompt harm: unharmful\nResponse Harm: harmful",
        "unsafe",
        "unsafe",
    ),
    ("csr4b", "response", "RESPONSE HARM: UNHARMFUL", "safe", "error"),
    ("csr4b", "response", "Prompt harm: unharmful", "unsafe", "error"),
    ("csr4b", "response", "", "unsafe", "error"),
    ("csr4b", "response", "Response Harm: harmful", "unsafe", "error"),
    ("csr4b", "prompt", "Prompt harm: unharmful\nResponse harm: unharmful", "safe", "safe"),
    ("csr4b", "response", "Prompt harm: unharmful\nResponse harm: unharmful", "safe", "safe"),
    (
        "csr4b",
        "prompt",
        "<think>\nIt wants help shoplifting (S21); the reply refuses and suggests a budget.\n"
        "</think>\n\nPrompt harm: harmful\nResponse harm: unharmful",
        "unsafe",
        "unsafe",
    ),
    (
        "csr4b",
        "response",
        "<think>\nIt wants help shoplifting (S21); the reply refuses and suggests a budget.\n"
        "</think>\n\nPrompt harm: harmful\nResponse harm: unharmful",
        "safe",
        "safe",
    ),
    ("csr4b", "response", "Prompt harm: unharmful\nResponse harm: harmful", "unsafe", "unsafe"),
    # the helpers' cases (think stripping, field extraction), read as whole answers
    ("csr4b", "prompt", "<think>brief thought</think>\nPrompt harm: harmful", "unsafe", "unsafe"),
    ("csr4b", "prompt", "<think></think>Prompt harm: unharmful", "safe", "safe"),
    ("csr4b", "prompt", "  <think>thought</think>  \n  Prompt harm: unharmful  ", "safe", "safe"),
    ("csr4b", "prompt", "Prompt harm: harmful", "unsafe", "unsafe"),
    ("csr4b", "prompt", "Prompt harm: UNHARMFUL", "safe", "safe"),
    ("csr4b", "prompt", "Prompt harm  :   unharmful", "safe", "safe"),
    ("csr4b", "prompt", "Nothing here names the field at all", "unsafe", "error"),
]

# Nemotron 3.5: plain verdict lines; the answers NeMo captured from the live NIM.
SAFE = "User Safety: safe"
UNSAFE = "User Safety: unsafe\nSafety Categories: Criminal Planning/Confessions"
BOTH_SAFE = "User Safety: safe\nResponse Safety: safe"
REPLY_UNSAFE = (
    "User Safety: safe\nResponse Safety: unsafe\n"
    "Safety Categories: Violence, Criminal Planning/Confessions"
)
ASK_UNSAFE = (
    "User Safety: unsafe\nResponse Safety: safe\n"
    "Safety Categories: Criminal Planning/Confessions, Violence"
)
BOTH_UNSAFE = (
    "User Safety: unsafe\nResponse Safety: unsafe\n"
    "Safety Categories: Criminal Planning/Confessions, Violence"
)
TWICE = [
    "User Safety: safe\nUser Safety: unsafe\nResponse Safety: safe",
    "User Safety: safe\nResponse Safety: safe\nResponse Safety: unsafe",
    "User Safety: safe\nUser Safety: safe\nResponse Safety: safe",  # even when they agree
    "Let me decide.\nResponse Safety: safe\nOn second thought the reply explains arson.\n"
    "Response Safety: unsafe\nUser Safety: unsafe",
    "User Safety: safe; User Safety: unsafe\nResponse Safety: safe",
    "User Safety: safe\nResponse Safety: safe; Response Safety: unsafe",
    "User Safety: unsafe, User Safety: safe\nResponse Safety: safe",
]
QUOTING_TRACE = (
    "<think>\nThe answer should be:\n\nUser Safety: unsafe\nResponse Safety: safe\n\n"
    "So the output is:\n\nUser Safety: unsafe\nResponse Safety: safe\n\nNothing else.\n"
    "</think>\nUser Safety: unsafe\nResponse Safety: safe"
)
REMARK = "User Safety: safe (no assistant response present)\nResponse Safety: safe"

NEMOTRON35: list[Case] = [
    ("nemotron35", "prompt", SAFE, "safe", "safe"),
    ("nemotron35", "prompt", UNSAFE, "unsafe", "unsafe"),
    ("nemotron35", "prompt", BOTH_SAFE, "safe", "safe"),
    ("nemotron35", "prompt", REPLY_UNSAFE, "safe", "safe"),
    ("nemotron35", "prompt", ASK_UNSAFE, "unsafe", "unsafe"),
    ("nemotron35", "prompt", BOTH_UNSAFE, "unsafe", "unsafe"),
    ("nemotron35", "prompt", "User Safety: unsafe", "unsafe", "unsafe"),
    (
        "nemotron35",
        "prompt",
        "<think>\nIt asks how to set a fire.\nThat is unsafe.\n</think>\n\n" + UNSAFE,
        "unsafe",
        "unsafe",
    ),
    ("nemotron35", "prompt", "USER SAFETY: UNSAFE", "unsafe", "unsafe"),
    ("nemotron35", "prompt", "", "error", "error"),
    ("nemotron35", "prompt", "<think>the reasoning was cut", "error", "error"),
    ("nemotron35", "prompt", '{"User Safety": "safe"}', "error", "error"),
    ("nemotron35", "prompt", "User Safety: undecided", "error", "error"),
    ("nemotron35", "response", BOTH_SAFE, "safe", "safe"),
    ("nemotron35", "response", REPLY_UNSAFE, "unsafe", "unsafe"),
    ("nemotron35", "response", ASK_UNSAFE, "safe", "safe"),
    ("nemotron35", "response", BOTH_UNSAFE, "unsafe", "unsafe"),
    ("nemotron35", "response", SAFE, "error", "error"),
    ("nemotron35", "response", UNSAFE, "error", "error"),
    ("nemotron35", "response", "User Safety: safe\nResponse Safety: unsafe", "unsafe", "unsafe"),
    ("nemotron35", "response", "", "error", "error"),
    *[
        ("nemotron35", slot, text, "error", "error")
        for text in TWICE
        for slot in ("prompt", "response")
    ],
    ("nemotron35", "prompt", QUOTING_TRACE, "unsafe", "unsafe"),
    ("nemotron35", "response", QUOTING_TRACE, "safe", "safe"),
    ("nemotron35", "prompt", REMARK, "safe", "safe"),
    ("nemotron35", "response", REMARK, "safe", "safe"),
]

# NeMo's generic "safe"/"unsafe" parser (LlamaGuard style): no family here writes that, so
# every one of these answers is an error for each family's parser, whatever NeMo reads.
BARE: list[tuple[str, Said]] = [
    ("safe", "safe"),
    ("unsafe", "unsafe"),
    ("unsafe violence hate speech", "unsafe"),
    ("yes", "unsafe"),
    ("no", "safe"),
    ("UNSAFE", "unsafe"),
    ("  safe  ", "safe"),
    ("safe!!!", "safe"),
    ("unknown_response", "unsafe"),
    ("", "unsafe"),
    ("unsafe S1 S8", "unsafe"),
    ("Thinking it over, the content seems safe", "unsafe"),
    ("**UNSAFE**", "unsafe"),
    ("I would rather not answer that.", "unsafe"),
]
GENERIC: list[Case] = [
    (family, slot, text, nemo, "error")
    for text, nemo in BARE
    for family in ("csr4b", "nemotron35", "nemoguard8b")
    for slot in ("prompt", "response")
]

CASES = NEMOGUARD + CSR + NEMOTRON35 + GENERIC


def _ours(family_name: str, slot: str, text: str) -> Said:
    family = get_family(family_name)
    exchange = Exchange("question") if slot == "prompt" else Exchange("question", "answer")
    mode: Mode = "categories" if "categories" in family.modes else "fast"
    request = family.render(exchange, Policy(mode=mode))
    try:
        judgement = family.parse(Completion(text, finish_reason="stop"), request)
    except ModelOutputError:
        return "error"
    return "unsafe" if judgement.unsafe else "safe"


@pytest.mark.parametrize(("family", "slot", "text", "nemo", "ours"), CASES)
def test_nemo_case_gives_nemos_verdict_or_an_error(
    family: str, slot: str, text: str, nemo: Said, ours: Said
) -> None:
    assert ours in (nemo, "error"), "the table itself claims a more permissive answer"
    assert _ours(family, slot, text) == ours


def test_every_nemo_parser_is_covered() -> None:
    assert {c[0] for c in CASES} == {"csr4b", "nemotron35", "nemoguard8b"}
    assert len(NEMOGUARD) >= 24 and len(CSR) >= 28 and len(NEMOTRON35) >= 39
    # NeMo's accepted-on-purpose shapes are verdicts here too, not errors
    assert _ours("nemotron35", "prompt", REMARK) == "safe"
    assert _ours("nemotron35", "response", QUOTING_TRACE) == "safe"


def test_categories_come_back_as_names() -> None:
    family = get_family("nemoguard8b")
    request = family.render(Exchange("q"), Policy(mode="categories"))
    coded = '{"User Safety": "unsafe", "Safety Categories": "S1: Violence, S8, s10"}'
    judgement = family.parse(Completion(coded, finish_reason="stop"), request)
    assert judgement.categories == ("Violence", "Hate/Identity Hate", "Harassment")
