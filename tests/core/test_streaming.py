"""StreamText: what each intermediate check of an incremental stream sees."""

from __future__ import annotations

import random

import pytest

from guard_core import ConfigurationError, Windowing
from guard_core.adapters.streaming import StreamText, default_context


def _windows(pieces: list[str], every: int, context: int) -> list[tuple[int, int, str]]:
    """Feed the pieces; each window taken when due, as (start, end, text)."""
    text = StreamText(every, context)
    out = []
    for piece in pieces:
        text.append(piece)
        if text.due:
            end = len(text)
            window = text.window()
            out.append((end - len(window), end, window))
    assert text.text() == "".join(pieces)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_windows_are_bounded_and_see_every_short_passage_whole(seed: int) -> None:
    rng = random.Random(seed)
    every, context = rng.randint(1, 60), rng.randint(0, 80)
    pieces = [
        "".join(rng.choice("abcdefgh ") for _ in range(rng.randint(0, 25)))
        for _ in range(rng.randint(1, 300))
    ]
    whole = "".join(pieces)
    windows = _windows(pieces, every, context)
    checked = 0
    for start, end, window in windows:
        assert window == whole[start:end]  # a true slice of the text
        assert start == max(0, checked - context)  # new text + `context` before it
        assert end - checked >= every  # only when due
        assert end - start <= context + every + 25  # bounded: the last piece overshoots
        checked = end
    # a passage of up to `context` characters inside the checked text is seen whole
    for s in range(checked):
        e = min(s + context, checked)
        assert any(a <= s and e <= b for a, b, _ in windows), (s, e)


def test_guard_work_is_linear_in_the_stream_length() -> None:
    pieces = ["x" * 7] * 20_000  # 140,000 characters
    windows = _windows(pieces, every=500, context=1_000)
    assert sum(len(w) for _, _, w in windows) <= 3.1 * 140_000


def test_the_default_context() -> None:
    assert default_context(200, Windowing()) == 1_000  # the guard's window overlap
    assert default_context(800, Windowing()) == 1_600  # twice the step
    assert default_context(10, Windowing(overlap_chars=0)) == 20
    with pytest.raises(ConfigurationError, match="every >= 1"):
        StreamText(0, 10)
    with pytest.raises(ConfigurationError, match="context >= 0"):
        StreamText(10, -1)
