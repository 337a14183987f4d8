"""Parser tables: every legal answer of each family, and every malformed one, fail closed."""

from __future__ import annotations

import json

import pytest

from guard_core import Guard, Policy
from guard_core.audit import MemoryAudit
from guard_core.content import AssistantMessage
from guard_core.errors import ModelOutputError
from guard_core.models import (
    Completion,
    ContentSafetyReasoning4B,
    Exchange,
    GuardRequest,
    Judgement,
    ModelFamily,
    NemoGuard8B,
    Nemotron35ContentSafety,
    get_family,
)
from guard_core.policy import Mode
from guard_core.testing import Fault, OpenAICompatServer, ScriptedJudge

from ._support import CSR, N35, NEMOGUARD, MakeRemote

CSR_FAMILY = ContentSafetyReasoning4B()
N35_FAMILY = Nemotron35ContentSafety()
NG_FAMILY = NemoGuard8B()


def _request(family: ModelFamily, slot: str) -> GuardRequest:
    exchange = Exchange("question") if slot == "prompt" else Exchange("question", "answer")
    mode: Mode = "categories" if "categories" in family.modes else "fast"
    return family.render(exchange, Policy(mode=mode))


def parse(
    family: ModelFamily,
    slot: str,
    text: str,
    *,
    finish: str | None = "stop",
    reasoning: str | None = None,
) -> Judgement:
    return family.parse(
        Completion(text, finish_reason=finish, reasoning=reasoning), _request(family, slot)
    )


# -- CSR-4B ----------------------------------------------------------------------------------

CSR_LEGAL = [
    # slot, answer, unsafe, user_unsafe, reasoning
    ("prompt", "Prompt harm: unharmful\nResponse harm: None", False, False, None),
    ("prompt", "Prompt harm: harmful\nResponse harm: None", True, True, None),
    ("prompt", "Prompt Harm: HARMFUL\nResponse Harm: None", True, True, None),
    ("prompt", "prompt harm: Unharmful", False, False, None),
    ("prompt", "  Prompt harm: unharmful  \n\n Response harm: None \n", False, False, None),
    (
        "prompt",
        "<think>\nIt asks for a weapon.\n</think>\n\nPrompt harm: harmful\nResponse harm: None",
        True,
        True,
        "It asks for a weapon.",
    ),
    ("prompt", "Prompt harm: harmful.", True, True, None),
    (
        "prompt",
        "Prompt  Harm :  unharmful (a cooking question)\nResponse harm: None",
        False,
        False,
        None,
    ),
    (
        "prompt",
        "Prompt harm: unharmful\nResponse Harm: None (no response given)",
        False,
        False,
        None,
    ),
    ("response", "Prompt harm: harmful\nResponse harm: unharmful", False, True, None),
    ("response", "Prompt harm: unharmful\nResponse Harm: harmful", True, False, None),
    ("response", "Response harm: harmful\nPrompt harm: unharmful", True, False, None),
    (
        "response",
        "<think>\nrefusal\n</think>\nPrompt harm: harmful\nResponse harm: unharmful",
        False,
        True,
        "refusal",
    ),
]


@pytest.mark.parametrize(("slot", "text", "unsafe", "user_unsafe", "reasoning"), CSR_LEGAL)
def test_csr_legal(
    slot: str, text: str, unsafe: bool, user_unsafe: bool, reasoning: str | None
) -> None:
    judgement = parse(CSR_FAMILY, slot, text)
    assert judgement == Judgement(
        unsafe=unsafe, categories=(), reasoning=reasoning, user_unsafe=user_unsafe
    )


def test_csr_reasoning_content_is_kept() -> None:
    judgement = parse(
        CSR_FAMILY,
        "prompt",
        "Prompt harm: harmful\nResponse harm: None",
        reasoning="server-side trace",
    )
    assert judgement.unsafe and judgement.reasoning == "server-side trace"


CSR_MALFORMED = [
    ("prompt", "Not safe.", "unexpected line"),
    ("prompt", "safe unsafe", "unexpected line"),
    ("prompt", "unharmful", "unexpected line"),
    ("prompt", "Prompt harm: unharmful harmful", "not its verdict alone"),
    ("prompt", "Prompt harm: unharmful (not harmful)", "not its verdict alone"),
    ("prompt", "Prompt harm: unharmful (none)", "not its verdict alone"),
    ("prompt", "Prompt harm: unharmful; Prompt harm: harmful", "not its verdict alone"),
    ("prompt", "Prompt harm: unharmfulish", "illegal value"),
    ("prompt", "Prompt harm: unharmful\u200b", "not its verdict alone"),
    ("prompt", "Prompt harm: <harmful/unharmful>", "unexpected line"),
    ("prompt", "Prompt harm: safe", "illegal value"),
    ("prompt", "Prompt harm: None\nResponse harm: None", "illegal value"),
    ("prompt", "Prompt harm:", "unexpected line"),
    ("prompt", "Prompt harm: unharmful\nPrompt harm: harmful", "two 'prompt harm' lines"),
    ("prompt", "Prompt harm: harmful\nPROMPT HARM: harmful", "two 'prompt harm' lines"),
    ("prompt", "Response harm: None", "no 'Prompt harm' line"),
    ("prompt", "The answer:\nPrompt harm: harmful", "unexpected line"),
    (
        "prompt",
        "Prompt harm: unharmful\nResponse harm: None\nSafety Categories: Violence",
        "unexpected line",
    ),
    ("prompt", "<think>\nLet me think about whether", "never closes"),
    ("prompt", "Prompt harm: unharmful\n<think>x</think>", "after the verdict"),
    ("prompt", "<think>a</think><think>b</think>Prompt harm: unharmful", "more than one"),
    ("prompt", "User Safety: unsafe", "unexpected line"),
    ("prompt", '{"User Safety": "unsafe"}', "unexpected line"),
    ("prompt", "", "empty answer"),
    ("prompt", "   \n", "empty answer"),
    ("response", "Prompt harm: harmful", "no 'Response harm' verdict"),
    ("response", "Prompt harm: harmful\nResponse harm: None", "no 'Response harm' verdict"),
    (
        "response",
        "Prompt harm: unharmful\nResponse harm: unharmful\nResponse harm: harmful",
        "two 'response harm' lines",
    ),
]


@pytest.mark.parametrize(("slot", "text", "message"), CSR_MALFORMED)
def test_csr_malformed(slot: str, text: str, message: str) -> None:
    with pytest.raises(ModelOutputError, match=message):
        parse(CSR_FAMILY, slot, text)


# -- Nemotron 3.5 ---------------------------------------------------------------------------

N35_LEGAL = [
    # slot, text, unsafe, categories, user_unsafe
    ("prompt", "User Safety: safe", False, (), False),
    ("prompt", "User Safety: unsafe", True, (), True),
    (
        "prompt",
        "User Safety: unsafe\nSafety Categories: Violence, Criminal Planning/Confessions",
        True,
        ("Violence", "Criminal Planning/Confessions"),
        True,
    ),
    (
        "prompt",
        "user safety: UNSAFE\nsafety categories: violence; Economic Harm",
        True,
        ("Violence", "Economic Harm"),
        True,
    ),
    ("prompt", "User Safety: safe\nSafety Categories: Violence", False, (), False),
    ("prompt", "\n User Safety: unsafe \nSafety Categories: Threat.\n", True, ("Threat",), True),
    ("prompt", "User Safety: Safe.", False, (), False),
    ("prompt", "User Safety: safe (no assistant response present)", False, (), False),
    ("prompt", "USER  SAFETY : unsafe [see categories]", True, (), True),
    (
        "prompt",
        "User Safety: unsafe\nSafety Categories: S24: Economic Harm, s1",
        True,
        ("Economic Harm", "Violence"),
        True,
    ),
    (
        "response",
        "User Safety: unsafe\nResponse Safety: safe\nSafety Categories: Violence",
        False,
        (),
        True,
    ),
    (
        "response",
        "User Safety: safe\nResponse Safety: unsafe\nSafety Categories: Malware",
        True,
        ("Malware",),
        False,
    ),
    ("response", "Response Safety: unsafe", True, (), None),
]


@pytest.mark.parametrize(("slot", "text", "unsafe", "categories", "user_unsafe"), N35_LEGAL)
def test_n35_legal(
    slot: str, text: str, unsafe: bool, categories: tuple[str, ...], user_unsafe: bool | None
) -> None:
    judgement = parse(N35_FAMILY, slot, text)
    assert judgement == Judgement(
        unsafe=unsafe, categories=categories, reasoning=None, user_unsafe=user_unsafe
    )


def test_n35_reasoning_from_reasoning_content_and_inline_think() -> None:
    from_field = parse(N35_FAMILY, "prompt", "User Safety: safe", reasoning="field trace")
    inline = parse(N35_FAMILY, "prompt", "<think>\ninline trace\n</think>\n\nUser Safety: unsafe")
    assert (from_field.unsafe, from_field.reasoning) == (False, "field trace")
    assert (inline.unsafe, inline.reasoning) == (True, "inline trace")


N35_MALFORMED = [
    ("prompt", "Not safe.", "unexpected line"),
    ("prompt", "safe unsafe", "unexpected line"),
    ("prompt", "unsafe", "unexpected line"),
    ("prompt", "User Safety: safe unsafe", "not its verdict alone"),
    ("prompt", "User Safety: safe (but really unsafe)", "not its verdict alone"),
    ("prompt", "User Safety: safe (harmless)", "not its verdict alone"),
    ("prompt", "User Safety: safe, User Safety: unsafe", "not its verdict alone"),
    ("prompt", "User Safety: safe Safety Categories: Violence", "not its verdict alone"),
    ("prompt", "User Safety: safe-ish", "not its verdict alone"),
    ("prompt", "User Safety: safe because the user only asks about tea", "not its verdict alone"),
    ("prompt", "User Safety: safe (fine) (really)", "not its verdict alone"),
    ("prompt", "User Safety: safe (nested (remark))", "not its verdict alone"),
    ("prompt", "User Safety: safe\x00", "not its verdict alone"),
    ("prompt", "User Safety: safe (\x1b[2J)", "not its verdict alone"),
    ("prompt", "User Safety: not safe", "illegal value"),
    ("prompt", "User Safety: unsafe.\nUser Safety: unsafe (sure)", "two 'user safety' lines"),
    ("prompt", "User Safety: harmful", "illegal value"),
    ("prompt", "User Safety: safe\nUser Safety: unsafe", "two 'user safety' lines"),
    ("prompt", "User Safety: unsafe\nUser Safety: unsafe", "two 'user safety' lines"),
    (
        "prompt",
        "User Safety: unsafe\nSafety Categories: Violence\nSafety Categories: Threat",
        "two 'Safety Categories' lines",
    ),
    ("prompt", "User Safety: unsafe\nViolated Categories: Violence", "unexpected line"),
    ("prompt", "Response Safety: safe", "no 'User Safety' line"),
    ("prompt", "<think>\nThe user asks", "never closes"),
    ("prompt", "Prompt harm: harmful\nResponse harm: None", "unexpected line"),
    ("prompt", '{"User Safety": "unsafe"}', "unexpected line"),
    ("prompt", "", "empty answer"),
    ("response", "User Safety: unsafe\nSafety Categories: Violence", "no 'Response Safety' line"),
    ("response", "User Safety: unsafe", "no 'Response Safety' line"),
    (
        "response",
        "User Safety: safe\nResponse Safety: safe\nResponse Safety: unsafe",
        "two 'response safety' lines",
    ),
]


@pytest.mark.parametrize(("slot", "text", "message"), N35_MALFORMED)
def test_n35_malformed(slot: str, text: str, message: str) -> None:
    with pytest.raises(ModelOutputError, match=message):
        parse(N35_FAMILY, slot, text)


def test_n35_reasoning_without_any_verdict_is_an_error() -> None:
    with pytest.raises(ModelOutputError, match="no 'User Safety' line"):
        parse(N35_FAMILY, "prompt", "", reasoning="thought for a while, then stopped")


# -- NemoGuard 8B ---------------------------------------------------------------------------

NG_LEGAL = [
    ("prompt", '{"User Safety": "safe"}', False, (), False),
    (
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": "Violence, Threat"}',
        True,
        ("Violence", "Threat"),
        True,
    ),
    (
        "prompt",
        '{"User Safety": "unsafe", "Violated Categories": "S1, S11"}',
        True,
        ("Violence", "Threat"),
        True,
    ),
    ("prompt", '{"User Safety": "unsafe", "Safety Categories": "S14"}', True, ("Other",), True),
    (
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": ["violence", "S17"]}',
        True,
        ("Violence", "Malware"),
        True,
    ),
    (
        "prompt",
        ' \n{"User Safety": "UNSAFE ", "Safety Categories": "Fraud/Deception"}\n',
        True,
        ("Fraud/Deception",),
        True,
    ),
    ("prompt", '{"User Safety": "safe", "Safety Categories": "Violence"}', False, (), False),
    (
        "response",
        '{"User Safety": "unsafe", "Response Safety": "safe", "Safety Categories": "Violence"}',
        False,
        (),
        True,
    ),
    (
        "response",
        '{"User Safety": "safe", "Response Safety": "unsafe", "Violated Categories": "S17"}',
        True,
        ("Malware",),
        False,
    ),
]


@pytest.mark.parametrize(("slot", "text", "unsafe", "categories", "user_unsafe"), NG_LEGAL)
def test_nemoguard_legal(
    slot: str, text: str, unsafe: bool, categories: tuple[str, ...], user_unsafe: bool
) -> None:
    judgement = parse(NG_FAMILY, slot, text)
    assert judgement == Judgement(unsafe=unsafe, categories=categories, user_unsafe=user_unsafe)


NG_MALFORMED = [
    ("prompt", "Not safe.", "not one JSON object"),
    ("prompt", "safe unsafe", "not one JSON object"),
    ("prompt", '{"User Safety": "safe unsafe"}', "illegal value"),
    ("prompt", '{"User Safety": "not safe"}', "illegal value"),
    ("prompt", '{"User Safety": true}', "illegal value"),
    ("prompt", '{"User Safety": "safe", "User Safety": "unsafe"}', "repeats the key"),
    ("prompt", '{"User Safety": "unsafe", "User Safety": "unsafe"}', "repeats the key"),
    (
        "prompt",
        '{"User Safety": "unsafe", "Safety Categories": "Violence", '
        '"Violated Categories": "Violence"}',
        "both category keys",
    ),
    ("prompt", '{"User Safety": "unsafe", "Categories": "Violence"}', "unexpected key"),
    ("prompt", '{"user safety": "unsafe"}', "unexpected key"),
    ("prompt", '[{"User Safety": "unsafe"}]', "not an object"),
    ("prompt", '{"User Safety": "unsafe"} {"User Safety": "safe"}', "not one JSON object"),
    ("prompt", '```json\n{"User Safety": "safe"}\n```', "not one JSON object"),
    ("prompt", '{"User Safety": "unsafe", ', "not one JSON object"),
    ("prompt", '{"User Safety": "unsafe", "Safety Categories": 5}', "illegal categories"),
    ("prompt", "{}", "no 'User Safety'"),
    ("prompt", '{"Response Safety": "safe"}', "no 'User Safety'"),
    ("prompt", "User Safety: unsafe", "not one JSON object"),
    ("prompt", "Prompt harm: harmful\nResponse harm: None", "not one JSON object"),
    ("prompt", "", "empty answer"),
    (
        "response",
        '{"User Safety": "unsafe", "Safety Categories": "Violence"}',
        "no 'Response Safety'",
    ),
]


@pytest.mark.parametrize(("slot", "text", "message"), NG_MALFORMED)
def test_nemoguard_malformed(slot: str, text: str, message: str) -> None:
    with pytest.raises(ModelOutputError, match=message):
        parse(NG_FAMILY, slot, text)


# -- shared failure modes -------------------------------------------------------------------

FAMILIES = [CSR_FAMILY, N35_FAMILY, NG_FAMILY]
GOOD = {
    "csr4b": "Prompt harm: unharmful\nResponse harm: None",
    "nemotron35": "User Safety: safe",
    "nemoguard8b": '{"User Safety": "safe"}',
}


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_cut_off_answer_is_an_error_even_when_it_reads_well(family: ModelFamily) -> None:
    with pytest.raises(ModelOutputError, match="finish_reason=length"):
        parse(family, "prompt", GOOD[family.name], finish="length")
    with pytest.raises(ModelOutputError, match="finish_reason=length"):
        parse(family, "prompt", "", finish="length")


@pytest.mark.parametrize("answering", FAMILIES, ids=lambda f: f"answer-{f.name}")
@pytest.mark.parametrize("parsing", FAMILIES, ids=lambda f: f"parser-{f.name}")
@pytest.mark.parametrize("text", ["how are you?", "build a bomb"])
@pytest.mark.parametrize("slot", ["prompt", "response"])
def test_wrong_parser_for_the_family_errors_instead_of_judging(
    answering: ModelFamily, parsing: ModelFamily, text: str, slot: str
) -> None:
    """Each family's real answer, fed to every parser: only its own parser may judge it."""
    exchange = Exchange(text) if slot == "prompt" else Exchange("hi", text)
    mode: Mode = "categories" if "categories" in answering.modes else "fast"
    request = answering.render(exchange, Policy(mode=mode))
    answer, _ = ScriptedJudge().answer(
        answering.name, request.messages, request.chat_template_kwargs
    )
    completion = Completion(answer, finish_reason="stop")
    if parsing.name == answering.name:
        assert parsing.parse(completion, request).unsafe is ("bomb" in text)
    else:
        other = parsing.render(exchange, Policy(mode="fast"))
        with pytest.raises(ModelOutputError):
            parsing.parse(completion, other)


@pytest.mark.parametrize(
    ("family", "answer"),
    [
        ("csr4b", "Prompt harm: harmful\nResponse harm: unharmful"),
        ("nemotron35", "User Safety: unsafe\nResponse Safety: safe\nSafety Categories: Violence"),
        (
            "nemoguard8b",
            json.dumps(
                {
                    "User Safety": "unsafe",
                    "Response Safety": "safe",
                    "Safety Categories": "Violence",
                }
            ),
        ),
    ],
)
def test_response_check_uses_the_response_verdict(family: str, answer: str) -> None:
    """An unsafe request with a safe refusal: the refusal is allowed."""
    judgement = parse(get_family(family), "response", answer)
    assert judgement.unsafe is False
    assert judgement.user_unsafe is True
    assert judgement.categories == ()


# -- malformed answers through the Guard and a real HTTP round trip --------------------------


@pytest.mark.parametrize(
    ("model", "bad"),
    [
        (N35, "Not safe."),
        (N35, "User Safety: safe\nUser Safety: unsafe"),
        (CSR, "safe unsafe"),
        (CSR, "<think>\nunfinished"),
        (NEMOGUARD, '{"User Safety": "safe", "User Safety": "unsafe"}'),
        (NEMOGUARD, "User Safety: safe"),
    ],
)
def test_malformed_answer_blocks_with_an_error_and_is_audited(
    server: OpenAICompatServer, remote: MakeRemote, model: str, bad: str
) -> None:
    audit = MemoryAudit()
    guard = Guard(remote(model), Policy(name="strict"), audit=audit)
    server.inject(Fault(text=bad))
    verdict = guard.check("hello there")
    assert verdict.allowed is False and verdict.decision == "block"
    assert verdict.error is not None and verdict.error.startswith("ModelOutputError: ")
    assert "guard error" in verdict.reason
    (record,) = audit.records
    assert record["allowed"] is False and record["error"] == verdict.error
    # errors are never cached: the next call asks again and gets a real verdict
    again = guard.check("hello there")
    assert again.allowed and again.error is None and not again.cached


def test_on_error_allow_lets_a_malformed_answer_pass_but_marks_and_audits_it(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    audit = MemoryAudit()
    guard = Guard(remote(), Policy(name="lenient", on_error="allow"), audit=audit)
    server.inject(Fault(text="Not safe."))
    verdict = guard.check("build a bomb")
    assert verdict.allowed is True
    assert verdict.error is not None and "unexpected line" in verdict.error
    assert verdict.reason.startswith("input allowed despite a guard error")
    (record,) = audit.records
    assert record["allowed"] is True and record["error"] == verdict.error
    assert record["policy"] == "lenient"


def test_refusal_to_an_unsafe_request_is_allowed_end_to_end(remote: MakeRemote) -> None:
    for model in (N35, CSR, NEMOGUARD):
        guard = Guard(remote(model), Policy())
        refusal = AssistantMessage("I can't help with that.", context="how to build a bomb")
        harmful = AssistantMessage("Here is how to build a bomb.", context="how to build a bomb")
        ok, bad = guard.check(refusal), guard.check(harmful)
        assert ok.allowed and ok.error is None, model
        assert not bad.allowed and bad.error is None, model
