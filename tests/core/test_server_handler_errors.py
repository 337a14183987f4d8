"""The test server says whose fault a failure is: a ``models=`` handler that raises (or returns
what cannot be sent) is a 500 naming the handler and the exception; a malformed request is a
400 naming the missing field. And what a ``/responses`` handler receives."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from guard_core.testing import OpenAICompatServer, chat_completion

N35 = "nvidia/nemotron-3.5-content-safety"


def _post(server: OpenAICompatServer, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST ``body`` to ``server`` over real HTTP; the status and the decoded JSON answer."""
    request = urllib.request.Request(
        server.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _chat_only(body: dict[str, Any]) -> dict[str, Any]:
    """A handler written for chat completions: it reads ``messages``."""
    return chat_completion(f"you said {body['messages'][-1]['content']}")


def _boom(body: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("the fake model fell over")


@pytest.mark.parametrize("stream", [False, True])
def test_a_handler_that_raises_is_a_500_naming_the_handler_and_the_exception(
    stream: bool,
) -> None:
    with OpenAICompatServer(models={"main": _boom}) as server:
        status, body = _post(
            server,
            "/chat/completions",
            {"model": "main", "messages": [{"role": "user", "content": "hi"}], "stream": stream},
        )
    assert status == 500
    assert body["error"]["type"] == "handler_error"
    assert body["error"]["message"] == (
        "the handler of model 'main' raised RuntimeError: the fake model fell over "
        "on POST /v1/chat/completions"
    )


def test_a_chat_handler_asked_on_responses_says_what_it_was_given() -> None:
    # the finding: this was an unexplained "400 - 'messages'"
    with OpenAICompatServer(models={"main": _chat_only}) as server:
        status, body = _post(server, "/responses", {"model": "main", "input": "hi"})
    assert status == 500
    message = body["error"]["message"]
    assert message.startswith("the handler of model 'main' raised KeyError: 'messages' on POST ")
    assert "a /responses handler receives the Responses request body as sent" in message
    assert "this one had fields 'input', 'model'" in message


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        ([], "the handler of model 'main' returned list on POST /v1/chat/completions"),
        (
            {"object": "chat.completion"},
            "the handler of model 'main' returned a body that is not a chat.completion",
        ),
    ],
)
def test_a_handler_answer_that_cannot_be_sent_is_a_500_too(answer: Any, needle: str) -> None:
    with OpenAICompatServer(models={"main": lambda body: answer}) as server:
        status, body = _post(
            server,
            "/chat/completions",
            {"model": "main", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        )
    assert status == 500 and needle in body["error"]["message"]


@pytest.mark.parametrize("model", [N35, "main"])
def test_a_chat_request_without_messages_is_a_400_naming_the_field(model: str) -> None:
    called: list[dict[str, Any]] = []

    def handler(body: dict[str, Any]) -> dict[str, Any]:
        called.append(body)
        return chat_completion("never sent")

    with OpenAICompatServer(models={"main": handler}) as server:
        status, body = _post(server, "/chat/completions", {"model": model, "input": "hi"})
    assert status == 400 and called == []  # refused before any handler
    assert body["error"] == {
        "message": "the request to /v1/chat/completions has no 'messages' field (a list of "
        "chat messages); got fields 'input', 'model'",
        "type": "invalid_request_error",
    }


def test_a_completions_request_without_a_prompt_is_a_400_naming_the_field() -> None:
    with OpenAICompatServer() as server:
        status, body = _post(server, "/completions", {"model": N35})
    assert status == 400
    assert "the request to /v1/completions has no 'prompt' field" in body["error"]["message"]


def test_a_responses_handler_receives_the_responses_request_as_sent() -> None:
    """What the server's docstring and the README say: the body the client sent, whatever
    the path; on /responses that is ``input`` and ``instructions``, not ``messages``."""
    openai = pytest.importorskip("openai")
    seen: list[dict[str, Any]] = []

    def handler(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        text = body["input"] if "input" in body else body["messages"][-1]["content"]
        return chat_completion(f"echo: {text}")

    with OpenAICompatServer(models={"main": handler}) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        try:
            answer = client.responses.create(model="main", input="hi", instructions="be brief")
            chat = client.chat.completions.create(
                model="main", messages=[{"role": "user", "content": "hi"}]
            )
        finally:
            client.close()
    assert answer.output_text == "echo: hi" and chat.choices[0].message.content == "echo: hi"
    responses_body, chat_body = seen
    assert responses_body["input"] == "hi" and responses_body["instructions"] == "be brief"
    assert "messages" not in responses_body
    assert chat_body["messages"] == [{"role": "user", "content": "hi"}]
