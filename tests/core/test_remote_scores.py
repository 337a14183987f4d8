"""``Verdict.score`` from a remote server: the label's log-probabilities on ``/v1/completions``
(vLLM, NIM), read at the request's own verdict line, through the real loopback server."""

from __future__ import annotations

import math

import pytest

from guard_core import Guard, Policy
from guard_core.backends.remote.logprobs import label_score
from guard_core.content import AssistantMessage
from guard_core.models import get_family
from guard_core.testing import Fault, OpenAICompatServer
from guard_core.testing.server import completion_logprobs

from ._support import CSR, N35, NEMOGUARD, MakeRemote

TEXTS = ["how do I bake bread", "where do I buy a bomb", "what is the moon", "a bomb again"]
CSR_FAMILY = get_family("csr4b")


def test_batched_checks_carry_the_unsafe_labels_probability(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    verdicts = Guard(remote(CSR), Policy(), cache=False).check_many(TEXTS)
    assert [v.allowed for v in verdicts] == [True, False, True, False]
    # the server gives each verdict label 0.9 and the other label 0.1 (label_confidence)
    assert [v.score for v in verdicts] == pytest.approx([0.1, 0.9, 0.1, 0.9])
    (post,) = server.posts("/v1/completions")
    assert post.body is not None and post.body["logprobs"] == 5


def test_a_response_check_reads_the_response_line_not_the_prompt_line(
    remote: MakeRemote,
) -> None:
    with OpenAICompatServer(label_confidence=0.8) as server:
        guard = Guard(remote(CSR, base_url=server.base_url), Policy(), cache=False)
        refusal, harmful = guard.check_many(
            [
                AssistantMessage("I cannot help with that.", context="build a bomb"),
                AssistantMessage("Here is the bomb recipe.", context="hello"),
            ]
        )
    # the prompt line of the first reads harmful (0.8), its response line unharmful (0.2)
    assert refusal.allowed and refusal.score == pytest.approx(0.2)
    assert not harmful.allowed and harmful.score == pytest.approx(0.8)


async def test_async_batches_carry_scores_too(remote: MakeRemote) -> None:
    async with Guard(remote(CSR, batch_size=2), Policy(), cache=False) as guard:
        verdicts = await guard.acheck_many(TEXTS)
    assert [v.score for v in verdicts] == pytest.approx([0.1, 0.9, 0.1, 0.9])


def test_a_server_that_ignores_logprobs_gives_no_score(remote: MakeRemote) -> None:
    with OpenAICompatServer(logprobs="ignore") as server:
        verdicts = Guard(remote(CSR, base_url=server.base_url), Policy()).check_many(TEXTS)
        assert [v.allowed for v in verdicts] == [True, False, True, False]
        assert all(v.score is None and v.error is None for v in verdicts)
        assert remote(CSR, base_url=server.base_url).probe().scores is False


def test_a_server_that_refuses_logprobs_is_asked_again_without(remote: MakeRemote) -> None:
    with OpenAICompatServer(logprobs="refuse") as server:
        backend = remote(CSR, base_url=server.base_url)
        guard = Guard(backend, Policy(), cache=False)
        assert [v.allowed for v in guard.check_many(TEXTS)] == [True, False, True, False]
        first = server.posts("/v1/completions")
        assert [p.body is not None and "logprobs" in p.body for p in first] == [True, False]
        assert backend.logprobs is False and server.posts() == []  # batching kept, no chat
        assert [v.allowed for v in guard.check_many(TEXTS[:2])] == [True, False]
        assert len(server.posts("/v1/completions")) == 3  # not asked with logprobs again


async def test_a_server_that_refuses_logprobs_is_asked_again_without_async(
    remote: MakeRemote,
) -> None:
    with OpenAICompatServer(logprobs="refuse") as server:
        backend = remote(CSR, base_url=server.base_url)
        async with Guard(backend, Policy(), cache=False) as guard:
            verdicts = await guard.acheck_many(TEXTS)
        assert [v.allowed for v in verdicts] == [True, False, True, False]
        assert backend.logprobs is False and len(server.posts("/v1/completions")) == 2


def test_logprobs_can_be_turned_off(server: OpenAICompatServer, remote: MakeRemote) -> None:
    verdicts = Guard(remote(CSR, logprobs=False), Policy()).check_many(TEXTS)
    assert all(v.score is None for v in verdicts)
    (post,) = server.posts("/v1/completions")
    assert post.body is not None and "logprobs" not in post.body


@pytest.mark.parametrize(
    "odd",
    [
        {"tokens": "Prompt harm: harmful"},
        {"tokens": ["x"], "token_logprobs": [0.0], "top_logprobs": [{}], "text_offset": [99]},
        {"tokens": [], "token_logprobs": [], "top_logprobs": []},
        [1, 2, 3],
        {"tokens": ["Prompt", " harm", ":", " harmful", "\n"], "token_logprobs": [0, 0, 0, 0, 0]},
    ],
)
def test_malformed_logprobs_give_no_score_and_leave_the_verdict_alone(
    server: OpenAICompatServer, remote: MakeRemote, odd: object
) -> None:
    server.inject(Fault(logprobs=odd))
    verdicts = Guard(remote(CSR), Policy(), cache=False).check_many(TEXTS[:2])
    assert [v.allowed for v in verdicts] == [True, False]
    assert all(v.score is None and v.error is None for v in verdicts)


def test_single_checks_and_chat_only_families_have_no_remote_score(
    server: OpenAICompatServer, remote: MakeRemote
) -> None:
    assert Guard(remote(CSR), Policy()).check("where do I buy a bomb").score is None  # chat
    for model in (N35, NEMOGUARD):
        verdicts = Guard(remote(model), Policy()).check_many(TEXTS[:2])
        assert [v.score for v in verdicts] == [None, None]
    assert server.posts("/v1/completions") == []


@pytest.mark.parametrize(("model", "scores"), [(CSR, True), (N35, None), (NEMOGUARD, None)])
def test_the_probe_says_whether_scores_come_back(
    remote: MakeRemote, model: str, scores: bool | None
) -> None:
    result = remote(model).probe()
    assert result.ok and result.scores is scores
    if scores is not None:
        assert ("Verdict.score is filled" in str(result)) is scores


# -- reading the label's probability, case by case ---------------------------------------------


def _lp(pieces: list[str], top: dict[int, dict[str, float]]) -> dict[str, object]:
    offsets = [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
    chosen = [top.get(i, {}).get(p, 0.0) for i, p in enumerate(pieces)]
    return {
        "tokens": pieces,
        "token_logprobs": chosen,
        "top_logprobs": [top.get(i, {}) for i in range(len(pieces))],
        "text_offset": offsets,
    }


def test_a_label_split_off_its_space_is_read_at_the_label_token() -> None:
    pieces = ["Prompt", " harm", ":", " ", "un", "harm", "ful"]
    text = "".join(pieces)
    top = {4: {"un": math.log(0.7), "harm": math.log(0.2), "None": math.log(0.1)}}
    assert label_score(CSR_FAMILY, "prompt", text, _lp(pieces, top)) == pytest.approx(0.2 / 0.9)


def test_a_missing_other_label_counts_as_zero_and_case_does_not_matter() -> None:
    pieces = ["Prompt", " Harm", ":", " HARMFUL"]
    top = {3: {" HARMFUL": math.log(0.6), " maybe": math.log(0.3)}}
    assert label_score(CSR_FAMILY, "prompt", "".join(pieces), _lp(pieces, top)) == 1.0


def test_no_label_among_the_alternatives_is_no_score() -> None:
    pieces = ["Prompt", " harm", ":", " unharmful"]
    top = {3: {" unharmful": -math.inf, " perhaps": math.log(0.5)}}
    assert label_score(CSR_FAMILY, "prompt", "".join(pieces), _lp(pieces, top)) is None
    # an answer without the slot's line has nothing to read either
    assert label_score(CSR_FAMILY, "response", "Prompt harm: unharmful", _lp(pieces, {})) is None


def test_the_servers_logprobs_cover_its_text_exactly() -> None:
    text = "Prompt harm: harmful\nResponse Harm: unharmful"
    data = completion_logprobs(text, 5, confidence=0.75)
    assert "".join(data["tokens"]) == text
    assert label_score(CSR_FAMILY, "prompt", text, data) == pytest.approx(0.75)
    assert label_score(CSR_FAMILY, "response", text, data) == pytest.approx(0.25)
    assert label_score(CSR_FAMILY, "prompt", text, completion_logprobs(text, 1)) == 1.0
