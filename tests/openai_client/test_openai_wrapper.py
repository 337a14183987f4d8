"""The wrapper itself: what it wraps, what it forwards, what it refuses to do."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import openai
import pytest

from guard_core import GuardViolation
from guard_core.errors import ConfigurationError
from guard_core.integrations.openai import AsyncGuardedOpenAI, GuardedOpenAI, guard_openai

from .conftest import MAIN, Env, user


def test_sync_and_async_clients_get_the_matching_wrapper(env: Env) -> None:
    sync_inner, async_inner = env.sync_client(), env.async_client()
    # typed as the client they wrap (they forward everything else): compared as objects
    sync_guarded: object = guard_openai(sync_inner, env.guard)
    assert type(sync_guarded) is GuardedOpenAI
    async_guarded: object = guard_openai(async_inner, env.guard)
    assert type(async_guarded) is AsyncGuardedOpenAI
    sync_inner.close()


def test_the_callers_client_and_the_sdk_classes_are_not_patched(env: Env) -> None:
    inner = env.sync_client()
    before = dict(vars(inner))
    client_create = openai.resources.chat.Completions.create
    guarded = guard_openai(inner, env.guard)
    guarded.chat.completions.create(model=MAIN, messages=user("hi"))
    assert openai.resources.chat.Completions.create is client_create
    assert set(vars(inner)) - set(before) <= {"chat"}  # only the SDK's own lazy resource
    # calls on the original client are not screened: it is untouched
    inner.chat.completions.create(model=MAIN, messages=user("bomb"))
    assert len(env.main_requests()) == 2
    inner.close()


def test_everything_else_is_forwarded(env: Env, client: Any) -> None:
    inner = client.unwrapped
    assert client.base_url == inner.base_url and client.api_key == "sk-test"
    assert client.max_retries == inner.max_retries
    assert [m.id for m in client.models.list()] == [MAIN]
    # stored completions' messages: forwarded, except those of an answer the guard blocked
    assert client.chat.completions.messages._gc_inner is inner.chat.completions.messages
    assert "chat" in dir(client) and "embeddings" in dir(client)
    assert client.guard is env.guard
    assert "guarded" in repr(client)


def test_a_resource_it_does_not_screen_is_refused_not_forwarded(client: Any) -> None:
    """Default deny: images, audio, videos, beta assistants and threads, and any resource a
    later SDK adds send text to a model unjudged, so calling them is refused by name."""
    inner = client.unwrapped
    known = {"chat", "responses", "completions", "beta"}  # screened (beta: its chat)
    known |= {"with_raw_response", "with_streaming_response"}
    resources = sorted(
        n
        for n in dir(inner)
        if not n.startswith("_")
        and n not in known
        and type(getattr(inner, n)).__module__.startswith("openai.resources")
    )
    from guard_core.integrations.openai.client import PASSED_THROUGH

    refused = [n for n in resources if n not in PASSED_THROUGH]
    assert "images" in refused and "audio" in refused
    for name in refused:
        resource, raw = getattr(client, name), getattr(inner, name)
        methods = [
            m
            for m in dir(raw)
            if not m.startswith("_")
            and callable(getattr(raw, m))
            and not type(getattr(raw, m)).__module__.startswith("openai.resources")
        ]
        for method in methods[:1]:
            with pytest.raises(
                ConfigurationError, match=re.escape(f"client.{name}.{method} is not screened")
            ):
                getattr(resource, method)()
        assert "_Refused" in type(resource).__name__  # its sub-resources are refused too
    with pytest.raises(
        ConfigurationError, match=re.escape("client.beta.threads.create is not screened")
    ):
        client.beta.threads.create()
    assert openai.__version__  # the walk above ran against the installed SDK


def test_context_managers_close_the_client(env: Env) -> None:
    with guard_openai(env.sync_client(), env.guard) as client:
        assert isinstance(client, GuardedOpenAI)
        client.chat.completions.create(model=MAIN, messages=user("hi"))
    assert client.unwrapped.is_closed()


async def test_async_context_manager(env: Env) -> None:
    async with guard_openai(env.async_client(), env.guard) as client:
        assert isinstance(client, AsyncGuardedOpenAI)
        await client.chat.completions.create(model=MAIN, messages=user("hi"))
    assert client.unwrapped.is_closed()
    await env.guard.aclose()


def test_azure_clients_are_guarded(env: Env) -> None:
    azure = openai.AzureOpenAI(
        api_key="k", api_version="2024-06-01", azure_endpoint=env.url.removesuffix("/v1")
    )
    client = guard_openai(azure, env.guard)
    answer = client.chat.completions.create(model=MAIN, messages=user("hi"))
    assert answer.choices[0].message.content == "Sure, happy to help."
    with pytest.raises(GuardViolation):
        client.with_options(timeout=3).chat.completions.create(model=MAIN, messages=user("bomb"))
    assert [r.path.split("?")[0] for r in env.main_requests()] == [
        "/openai/deployments/main-model/chat/completions"
    ]
    azure.close()


async def test_async_azure_clients_are_guarded(env: Env) -> None:
    azure = openai.AsyncAzureOpenAI(
        api_key="k", api_version="2024-06-01", azure_endpoint=env.url.removesuffix("/v1")
    )
    client = guard_openai(azure, env.guard)
    assert isinstance(client, AsyncGuardedOpenAI)
    with pytest.raises(GuardViolation):
        await client.chat.completions.create(model=MAIN, messages=user("bomb"))
    await azure.close()
    await env.guard.aclose()


def test_bad_arguments_are_clear_errors(env: Env, client: Any) -> None:
    with pytest.raises(ConfigurationError, match="already guarded"):
        guard_openai(client, env.guard)
    with pytest.raises(ConfigurationError, match="OpenAI or AsyncOpenAI"):
        guard_openai(object(), env.guard)  # type: ignore[type-var]
    with pytest.raises(ConfigurationError, match="Guard"):
        guard_openai(client.unwrapped, object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="on_block"):
        guard_openai(client.unwrapped, env.guard, on_block="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="guard_agent"):
        client.chat.completions.create(
            model=MAIN, messages=user("hi"), extra_body={"guard_agent": 7}
        )
    assert env.main_requests() == []


def test_unknown_agent_fails_at_wrap_time(env: Env) -> None:
    from guard_core import Guard, Policy, PolicySet

    strict = Guard(env.guard.backend, PolicySet({"a": Policy(name="a")}))
    with pytest.raises(ConfigurationError, match="no policy for agent 'b'"):
        guard_openai(env.sync_client(), strict, agent="b")


def test_a_policy_can_leave_surfaces_unscreened(env: Env) -> None:
    """The lenient agent does not screen tool calls: broken arguments are not its concern."""
    from .conftest import answer

    inner = env.sync_client()
    client = guard_openai(inner, env.guard, agent="lenient")
    env.model.reply(answer(None, tool_calls=[{"name": "f", "arguments": "not json"}]))
    result = client.chat.completions.create(model=MAIN, messages=user("go"))
    tool_calls = result.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].type == "function"
    assert tool_calls[0].function.arguments == "not json"
    inner.close()


def test_missing_openai_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['openai'] = None\n"
        "try:\n"
        "    import guard_core.integrations.openai\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.startswith("MissingDependencyError")
    assert "pip install 'guard-core-agents[openai]'" in out


def test_beta_paths_to_the_model_are_not_a_bypass(env: Env, client: Any) -> None:
    with pytest.raises(GuardViolation):
        client.beta.chat.completions.create(model=MAIN, messages=user("bomb"))
    with pytest.raises(ConfigurationError, match=r"beta\.responses\.create"):
        client.beta.responses.create(model=MAIN, input="hi")
    assert client.beta.responses.input_items is not None  # the rest is forwarded
    assert env.main_requests() == []


def test_model_calls_the_wrapper_cannot_screen_are_refused(env: Env) -> None:
    inner = env.sync_client()
    client = guard_openai(inner, env.guard)
    with pytest.raises(ConfigurationError, match="compact"):
        client.responses.compact(model=MAIN, input="summarise")
    with pytest.raises(ConfigurationError, match="not screened"):
        client.chat.completions.with_raw_response.stream(model=MAIN, messages=[])  # type: ignore[attr-defined]
    assert env.main_requests() == []
    inner.close()
