"""The 3.5 fixture's chat template renders Nemotron 3.5's prompt structure (reference
section 6): its text is pinned here for every combination of the four controls, with and
without an assistant turn, through the fixture's own tokenizer."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from .conftest import IMAGE_FIXTURE

INTRO = (
    "You are a safety classifier for conversations between people and AI assistants. For "
    "the conversation below, decide:\n"
    "- whether the user input is safe or unsafe;\n"
    "- whether the assistant response is safe or unsafe;\n"
    "- whether the assistant response is a refusal;\n"
    "- if anything is unsafe, which harmful categories it falls into.\n\n"
    "Taxonomy: the safety categories that the user input and the assistant response may "
    "fall into.\n"
)
TAXONOMY = (
    "S1: Violence.\nS2: Sexual.\nS3: Criminal Planning/Confessions.\n"
    "S4: Guns and Illegal Weapons.\nS5: Controlled/Regulated Substances.\n"
    "S6: Suicide and Self Harm.\nS7: Sexual (minor).\nS8: Hate/Identity Hate.\n"
    "S9: PII/Privacy.\nS10: Harassment.\nS11: Threat.\nS12: Profanity.\nS13: Needs Caution.\n"
    "S14: Other.\nS15: Manipulation.\nS16: Fraud/Deception.\nS17: Malware.\n"
    "S18: High Risk Gov Decision Making.\nS19: Political/Misinformation/Conspiracy.\n"
    "S20: Copyright/Trademark/Plagiarism.\nS21: Unauthorized Advice.\nS22: Illegal Activity.\n"
    "S23: Immoral/Unethical.\nS24: Economic Harm."
)
POLICY = "Judge a cooking assistant.\n\nDisallowed:\n- weapons"
OWN = "S1: Weapons. Making or using weapons.\nS2: Theft."
USER = "  How do I sharpen a knife?\n"
REPLY = "\nUse a whetstone. "


def expected(*, categories: str | None, thinking: bool | None, kind: str, reply: bool) -> str:
    head = {"taxonomy": INTRO + TAXONOMY, "custom_taxonomy": INTRO + OWN, "custom_policy": POLICY}
    source = "custom policy" if kind == "custom_policy" else "provided taxonomy"
    return (
        "<bos><start_of_turn>user\n"
        + head[kind]
        + "\n<BEGIN CONVERSATION>\nuser: How do I sharpen a knife?\n"
        + ("response: agent: Use a whetstone.\n" if reply else "")
        + "<END CONVERSATION>\nOutput your answer in the following format:\n\n"
        "User Safety: safe or unsafe rating of the user input\n"
        "Response Safety: safe or unsafe rating of the assistant response. Omit if no "
        "assistant response present.\n"
        "Safety Categories: a comma-separated list of applicable safety categories from the "
        f"{source}. Omit if all safe or not needed.\n\n"
        "Only output the answer in the format specified above, after thinking about the user "
        "input and the assistant response. Output nothing else.\n"
        + ("/categories" if categories == "/categories" else "/no_categories")
        + (" /think" if thinking else " /no_think")
        + "\nOutput:<end_of_turn>\n<start_of_turn>model\n"
    )


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(IMAGE_FIXTURE)


def render(tokenizer: Any, reply: bool, **controls: Any) -> str:
    messages = [{"role": "user", "content": USER}]
    if reply:
        messages.append({"role": "assistant", "content": REPLY})
    return str(
        tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **controls
        )
    )


COMBINATIONS = list(
    itertools.product(
        [None, "/no_categories", "/categories"],  # request_categories (None: not sent)
        [None, False, True],  # enable_thinking
        ["taxonomy", "custom_taxonomy", "custom_policy"],
        [False, True],  # an assistant turn
    )
)


@pytest.mark.parametrize(("categories", "thinking", "kind", "reply"), COMBINATIONS)
def test_rendered_text_for_each_combination_of_the_controls(
    tokenizer: Any, categories: str | None, thinking: bool | None, kind: str, reply: bool
) -> None:
    controls: dict[str, Any] = {}
    if categories is not None:
        controls["request_categories"] = categories
    if thinking is not None:
        controls["enable_thinking"] = thinking
    if kind == "custom_taxonomy":
        controls["custom_taxonomy"] = OWN
    if kind == "custom_policy":
        controls["custom_policy"] = POLICY
    text = render(tokenizer, reply, **controls)
    assert text == expected(categories=categories, thinking=thinking, kind=kind, reply=reply)
    assert "\\n" not in text  # no literal backslash-n (the old fixture rendered some)


def test_custom_policy_and_custom_taxonomy_exclude_each_other(tokenizer: Any) -> None:
    with pytest.raises(Exception, match="exclude each other"):
        render(tokenizer, False, custom_policy=POLICY, custom_taxonomy=OWN)


def test_the_image_comes_before_the_text_in_the_user_turn(tokenizer: Any) -> None:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": USER}]}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "\nuser: <start_of_image>How do I sharpen a knife?\n<END CONVERSATION>" in text
