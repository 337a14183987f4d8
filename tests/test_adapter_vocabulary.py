"""One vocabulary and one copy of each rule across the adapters (issue 14).

- every adapter refuses a wrong ``guard`` and every bad setting with a ConfigurationError;
- the stream settings have the same names (``streaming``, ``stream_chars``,
  ``stream_context``) wherever a stream is screened; ``refusal`` is a string or a function
  of the verdict everywhere; the OpenAI wrapper's old names still work, with a warning;
- no adapter module re-writes a rule the kit holds (a source scan, so a new copy fails).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage
from llama_index.core.llms.mock import MockFunctionCallingLLM as MockLLM

from guard_core import Guard
from guard_core.adapters.decisions import GENERIC_REFUSAL, default_refusal
from guard_core.errors import ConfigurationError, GuardError
from guard_core.integrations.langchain import (
    GuardCallbackHandler,
    GuardDocumentFilter,
    GuardMiddleware,
    GuardRunnable,
)
from guard_core.integrations.llama_index import (
    GuardedFunctionAgent,
    GuardNodePostprocessor,
    guard_tool,
    guard_tools,
)
from guard_core.integrations.openai import guard_openai
from guard_core.testing import ScriptedBackend

ROOT = Path(__file__).resolve().parents[1]
# LlamaIndex's workflow package reads pydantic's deprecated instance attributes
# (__fields__, ...) when an agent is built; not ours
pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")


def _client() -> openai.OpenAI:
    return openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)


def _tool(x: int) -> int:
    """Adds one."""
    return x + 1


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "GuardRunnable": lambda g: GuardRunnable(g),
    "GuardMiddleware": lambda g: GuardMiddleware(g),
    "GuardCallbackHandler": lambda g: GuardCallbackHandler(g),
    "GuardDocumentFilter": lambda g: GuardDocumentFilter(g),
    "GuardNodePostprocessor": lambda g: GuardNodePostprocessor(g),
    "GuardedFunctionAgent": lambda g: GuardedFunctionAgent(
        guard=g, name="a", tools=[_tool], llm=MockLLM()
    ),
    "guard_tool": lambda g: guard_tool(_tool, g),
    "guard_tools": lambda g: guard_tools([_tool], g),
    "guard_openai": lambda g: guard_openai(_client(), g),
}
# the adapters of the co-install tier's clients (openai-agents, langchain-openai,
# llama-index-llms-openai), where those are installed
if importlib.util.find_spec("agents") is not None:
    import agents as sdk  # type: ignore[import-not-found, unused-ignore]

    from guard_core.integrations import openai_agents as oa

    BUILDERS.update(
        {
            "with_guardrails": lambda g: oa.with_guardrails(sdk.Agent(name="a"), g),
            "guard_input": lambda g: oa.guard_input(g),
            "guard_output": lambda g: oa.guard_output(g),
            "guard_tool_input": lambda g: oa.guard_tool_input(g),
            "guard_tool_output": lambda g: oa.guard_tool_output(g),
        }
    )
if importlib.util.find_spec("langchain_openai") is not None:
    from guard_core.integrations.langchain import guard_chat_openai

    def _chat_openai() -> Any:
        from langchain_openai import ChatOpenAI  # type: ignore[import-not-found, unused-ignore]
        from pydantic import SecretStr

        return ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key=SecretStr("k"))

    BUILDERS["guard_chat_openai"] = lambda g: guard_chat_openai(_chat_openai(), g)
if importlib.util.find_spec("llama_index.llms") is not None and (
    importlib.util.find_spec("llama_index.llms.openai") is not None
):
    from guard_core.integrations.llama_index import guard_openai_llm

    def _openai_llm() -> Any:
        from llama_index.llms.openai import OpenAI

        return OpenAI(model="gpt-4o-mini", api_base="http://127.0.0.1:9/v1", api_key="k")

    BUILDERS["guard_openai_llm"] = lambda g: guard_openai_llm(_openai_llm(), g)


@pytest.fixture
def guard() -> Guard:
    return Guard(ScriptedBackend())


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("wrong", [None, "guard", object(), ScriptedBackend()])
def test_a_wrong_guard_is_a_configuration_error_naming_the_adapter(name: str, wrong: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"{name} needs a Guard"):
        BUILDERS[name](wrong)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_adapter_builds_with_a_guard(name: str, guard: Guard) -> None:
    assert BUILDERS[name](guard) is not None


BAD_SETTINGS: list[tuple[str, Callable[[Guard], Any], str]] = [
    ("runnable on_block", lambda g: GuardRunnable(g, on_block="ignore"), "on_block"),  # type: ignore[arg-type]
    ("openai on_block", lambda g: guard_openai(_client(), g, on_block="ignore"), "on_block"),  # type: ignore[arg-type]
    ("runnable action", lambda g: GuardRunnable(g, action="shred"), "action"),  # type: ignore[arg-type]
    ("filter action", lambda g: GuardDocumentFilter(g, action="shred"), "action"),  # type: ignore[arg-type]
    ("postprocessor action", lambda g: GuardNodePostprocessor(g, action="block"), "action"),  # type: ignore[arg-type]
    ("runnable refusal", lambda g: GuardRunnable(g, refusal=42), "refusal"),  # type: ignore[arg-type]
    ("middleware refusal", lambda g: GuardMiddleware(g, refusal=None), "refusal"),  # type: ignore[arg-type]
    ("openai refusal", lambda g: guard_openai(_client(), g, refusal=b"no"), "refusal"),  # type: ignore[arg-type]
    (
        "agent refusal",
        lambda g: GuardedFunctionAgent(guard=g, name="a", refusal=3.5, llm=MockLLM()),
        "refusal",
    ),
    ("middleware policy without backend", lambda g: GuardMiddleware(g.policies), "backend"),
    ("openai unknown setting", lambda g: guard_openai(_client(), g, stream="x"), "stream"),
]
if "with_guardrails" in BUILDERS:
    BAD_SETTINGS += [
        ("agent on_block", lambda g: oa.guard_tool_input(g, on_block="x"), "on_block"),  # type: ignore[arg-type]
        ("agent refusal", lambda g: oa.guard_tool_output(g, refusal=b"no"), "refusal"),  # type: ignore[arg-type]
        ("agent parallel", lambda g: oa.guard_input(g, run_in_parallel=1), "parallel"),  # type: ignore[arg-type]
        ("agent unscreened", lambda g: oa.guard_tool_output(g, allow_unscreened="file"), "allow"),
        ("agent override", lambda g: oa.guard_output(g, allow_agent_override="y"), "override"),  # type: ignore[arg-type]
    ]
if "guard_chat_openai" in BUILDERS:
    BAD_SETTINGS += [
        ("chat refusal", lambda g: guard_chat_openai(_chat_openai(), g, refusal=1), "refusal"),  # type: ignore[arg-type]
        ("chat stream", lambda g: guard_chat_openai(_chat_openai(), g, streaming=True), "stream"),  # type: ignore[arg-type]
    ]
if "guard_openai_llm" in BUILDERS:
    BAD_SETTINGS += [
        ("llm on_block", lambda g: guard_openai_llm(_openai_llm(), g, on_block="x"), "on_block"),  # type: ignore[arg-type]
    ]
for adapter in ("runnable", "openai"):
    make: Callable[..., Any] = (
        (lambda g, **kw: GuardRunnable(g, **kw))
        if adapter == "runnable"
        else (lambda g, **kw: guard_openai(_client(), g, **kw))
    )
    for setting, value in [
        ("streaming", "sometimes"),
        ("streaming", True),
        ("stream_chars", 0),
        ("stream_chars", 2.5),
        ("stream_chars", True),
        ("stream_context", -1),
        ("stream_context", "10"),
    ]:
        BAD_SETTINGS.append(
            (
                f"{adapter} {setting}={value!r}",
                lambda g, make=make, setting=setting, value=value: make(g, **{setting: value}),  # type: ignore[misc]
                setting,
            )
        )


@pytest.mark.parametrize(
    ("build", "named"), [(b, n) for _, b, n in BAD_SETTINGS], ids=[i for i, _, _ in BAD_SETTINGS]
)
def test_a_bad_setting_is_a_configuration_error_naming_it(
    build: Callable[[Guard], Any], named: str, guard: Guard
) -> None:
    with pytest.raises(ConfigurationError, match=named) as caught:
        build(guard)
    assert isinstance(caught.value, GuardError)


@pytest.mark.parametrize("adapter", [GuardRunnable.__init__, guard_openai])
def test_the_stream_settings_have_one_name_everywhere(adapter: Callable[..., Any]) -> None:
    params = inspect.signature(adapter).parameters
    assert {"on_block", "refusal", "streaming", "stream_chars", "stream_context"} <= set(params)


def test_refusal_is_a_string_or_a_function_of_the_verdict_in_every_adapter() -> None:
    for adapter in (GuardRunnable.__init__, GuardMiddleware.__init__, guard_openai):
        assert "Callable[[Verdict], str]" in str(
            inspect.signature(adapter, eval_str=True).parameters["refusal"].annotation
        ).replace("collections.abc.", "").replace("guard_core.verdict.", "")
    field = GuardedFunctionAgent.model_fields["refusal"]
    assert field.default is default_refusal


def test_a_refusal_function_gets_the_blocking_verdict(guard: Guard) -> None:
    seen: list[Any] = []

    def refusal(verdict: Any) -> str:
        seen.append(verdict)
        return f"no ({verdict.reason})"

    runnable = GuardRunnable(guard, surface="output", on_block="refuse", refusal=refusal)
    out = runnable.invoke(AIMessage("how to build a bomb"))
    assert out.content == f"no ({seen[0].reason})" and seen[0].surface == "output"
    assert GuardRunnable(guard, on_block="refuse").invoke("a bomb") == GENERIC_REFUSAL


def test_the_openai_wrappers_old_stream_names_still_work_with_a_warning(guard: Guard) -> None:
    with pytest.warns(DeprecationWarning, match="stream_mode= is renamed streaming="):
        client = guard_openai(_client(), guard, stream_mode="incremental")
    assert client._gc_ctx.options.streaming == "incremental"  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning) as caught:
        client = guard_openai(_client(), guard, screen_every=50, screen_context=7)
    assert len(caught) == 2
    assert (client._gc_ctx.options.stream_chars, client._gc_ctx.options.stream_context) == (50, 7)  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="pass stream_chars= only"):
        guard_openai(_client(), guard, stream_chars=10, screen_every=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        guard_openai(_client(), guard, streaming="incremental", stream_chars=10)


def test_the_llama_index_agents_format_string_refusal_still_works_with_a_warning(
    guard: Guard,
) -> None:
    with pytest.warns(DeprecationWarning, match=r"\{reason\} is deprecated"):
        agent = GuardedFunctionAgent(guard=guard, name="a", refusal="No: {reason}!", llm=MockLLM())
    verdict = guard.check("a bomb")
    assert agent._refusal_text(verdict) == f"No: {verdict.reason}!"


# -- one copy of each rule ------------------------------------------------------------------

ADAPTER_FILES = sorted((ROOT / "integrations").rglob("*.py"))
RULES = {
    "the agent key": re.compile(r"""^\s*AGENT_KEY\s*=|["']guard_agent["']"""),
    "a refusal text": re.compile(r"""I can't help with that"""),
    "the flagged-error rule": re.compile(
        r"""["']flag["'].*error is not None|error is not None.*["']flag["']"""
    ),
    "a decision ranking": re.compile(r"DECISION_RANK\[[^\]]+\]\s*>"),
    "a guard-type check": re.compile(r"isinstance\(guard, Guard\)"),
}


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """The file's lines without its docstrings and comments (prose may name the rules)."""
    source = path.read_text()
    prose: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                prose.update(range(value.lineno, (value.end_lineno or value.lineno) + 1))
    return [
        (number, line)
        for number, line in enumerate(source.splitlines(), 1)
        if number not in prose and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_no_adapter_writes_its_own_copy_of_a_kit_rule(rule: str) -> None:
    copies = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in ADAPTER_FILES
        for number, line in _code_lines(path)
        if RULES[rule].search(line)
    ]
    assert not copies, f"{rule} belongs in guard_core/adapters/; found:\n" + "\n".join(copies)
