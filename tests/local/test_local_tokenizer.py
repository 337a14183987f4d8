"""The encoder's private tokenizer: the same ids as transformers' own path, the caller's
tokenizer untouched, and the added-token tables built once instead of on every request."""

from __future__ import annotations

from typing import Any

import pytest
from transformers import AutoTokenizer

from guard_core import Policy
from guard_core.backends.local.images import ImageLoader
from guard_core.backends.local.inputs import Encoder
from guard_core.backends.local.tokenizer import private_tokenizer
from guard_core.models import ContentSafetyReasoning4B, Exchange

from ._support import INJECTIONS
from .conftest import TEXT_FIXTURE

TEXTS = ["hello", " leading space", "数字 and emoji 🙂", *INJECTIONS]


def _ids(tokenizer: Any, text: str) -> list[int]:
    request = ContentSafetyReasoning4B().render(Exchange(text, text), Policy())
    return list(
        tokenizer.apply_chat_template(
            list(request.messages),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
            sanitize_control_tokens=True,
        )
    )


def test_private_copy_encodes_exactly_like_the_original() -> None:
    original = AutoTokenizer.from_pretrained(TEXT_FIXTURE)
    private = private_tokenizer(original)
    assert private is not original and type(private).__name__ == type(original).__name__
    for text in TEXTS:
        assert _ids(private, text) == _ids(original, text), text
    assert private.added_tokens_encoder == original.added_tokens_encoder
    assert private.added_tokens_decoder.keys() == original.added_tokens_decoder.keys()


def test_the_callers_tokenizer_is_untouched_and_cannot_reach_the_copy() -> None:
    original = AutoTokenizer.from_pretrained(TEXT_FIXTURE)
    kind = type(original)
    private = private_tokenizer(original)
    private.added_tokens_decoder.clear()  # a caller editing the table it was given
    assert type(original) is kind
    before = _ids(private, "hello <zz_new_token> there")
    original.add_tokens(["<zz_new_token>"], special_tokens=True)
    assert "<zz_new_token>" not in private.added_tokens_encoder
    assert len(private) == len(original) - 1
    assert _ids(private, "hello <zz_new_token> there") == before
    assert private_tokenizer(private) is private  # already private: no second copy


def test_added_tokens_are_read_once_not_per_request() -> None:
    original = AutoTokenizer.from_pretrained(TEXT_FIXTURE)
    reads = []
    parent = type(original)

    class Counting(parent):  # type: ignore[misc, valid-type]
        @property
        def added_tokens_decoder(self) -> Any:
            reads.append(1)
            return super().added_tokens_decoder

    original.__class__ = Counting
    encoder = Encoder(ContentSafetyReasoning4B(), original, None, ImageLoader())
    family = encoder.family
    for text in TEXTS:
        encoder.encode(family.render(Exchange(text), Policy()))
    assert len(reads) == 1
    reads.clear()
    for text in TEXTS[:3]:  # the caller's own object still asks every time
        _ids(original, text)
    assert len(reads) >= 3


def test_an_unknown_tokenizer_kind_is_used_as_it_is() -> None:
    class Plain:
        pass

    plain = Plain()
    assert private_tokenizer(plain) is plain


@pytest.mark.parametrize("which", ["text_backend", "image_backend"])
def test_the_backend_encodes_with_a_private_copy(
    which: str, request: pytest.FixtureRequest
) -> None:
    backend = request.getfixturevalue(which)
    encoder = backend._encoder
    assert encoder.tokenizer is not backend.tokenizer
    if encoder.processor is not None:
        assert encoder.processor.tokenizer is encoder.tokenizer
