"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: scripted, recorded, faultable.

It plays the guard model (answers in the family's exact format via :class:`ScriptedJudge`)
and, for models registered with ``models=``, a "main" chat model (streams included).

>>> from guard_core.testing import OpenAICompatServer, Fault
>>> with OpenAICompatServer() as server:
...     server.inject(Fault(status=429, headers={"Retry-After": "0"}))
...     url = server.base_url   # point RemoteBackend / OpenAI(base_url=...) here
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from guard_core.models import family_for_model
from guard_core.testing.scripted import ScriptedJudge

__all__ = [
    "Fault",
    "OpenAICompatServer",
    "RecordedRequest",
    "chat_completion",
    "completion_logprobs",
    "response_from_completion",
]

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class _BadRequest(Exception):
    """The request under test is malformed: a 400 saying what is missing."""


class _HandlerFailed(Exception):
    """A ``models=`` handler raised, or returned what cannot be sent: a 500 saying so."""


@dataclass
class Fault:
    """What the next request(s) get instead of a normal answer."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    drop: bool = False
    trickle: float | None = None
    text: str | None = None
    finish_reason: str = "stop"
    reasoning: str | None = None
    times: int = 1
    echo_request: bool = False  # an error body repeating the request's path and headers
    logprobs: Any = None  # /v1/completions: this "logprobs" object in every choice instead


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def chat_completion(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    model: str = "main-model",
    finish_reason: str | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` JSON body (tool_calls as ``{"id","name","arguments"}`` dicts)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": c.get("id", f"call_{i}"),
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": c["arguments"]
                    if isinstance(c["arguments"], str)
                    else json.dumps(c["arguments"]),
                },
            }
            for i, c in enumerate(tool_calls)
        ]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


# Word-sized pieces with their leading whitespace, as a BPE tokenizer splits an answer.
_PIECE = re.compile(r"\s*[A-Za-z]+|\s*[^A-Za-z\s]|\s+$")
_OTHER_LABEL = {"harmful": "unharmful", "unharmful": "harmful", "safe": "unsafe", "unsafe": "safe"}


def completion_logprobs(text: str, top: int, confidence: float = 0.9) -> dict[str, Any]:
    """A ``/v1/completions`` ``logprobs`` object for ``text`` as vLLM writes one: per token
    its text, log-probability, top-``top`` alternatives (the chosen one included) and
    character offset. A verdict label gets ``confidence``, the other label the rest, and a
    token that is neither label a little; every other token is near-certain."""
    pieces = _PIECE.findall(text)
    if "".join(pieces) != text:
        pieces = list(text)
    offsets, at = [], 0
    tops: list[dict[str, float]] = []
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
        word = piece.lstrip()
        other = _OTHER_LABEL.get(word.lower())
        if other is None:
            tops.append({piece: math.log(0.999)})
            continue
        space = piece[: len(piece) - len(word)]
        spelt = other.capitalize() if word[:1].isupper() else other
        choices = {
            piece: math.log(confidence),
            space + spelt: math.log(max(1.0 - confidence, 1e-9)),
            space + "None": math.log(1e-4),
        }
        tops.append(dict(list(choices.items())[: max(top, 1)]))
    return {
        "tokens": pieces,
        "token_logprobs": [t[p] for t, p in zip(tops, pieces, strict=True)],
        "top_logprobs": tops,
        "text_offset": offsets,
    }


def _sse_chunks(completion: dict[str, Any], piece: int = 8) -> list[dict[str, Any]]:
    choice = completion["choices"][0]
    message = choice["message"]
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    content = message.get("content") or ""
    deltas += [{"content": content[i : i + piece]} for i in range(0, len(content), piece)]
    if isinstance(message.get("audio"), dict):  # an audio answer streams its transcript
        deltas.append({"audio": {"transcript": message["audio"].get("transcript", "")}})
    for index, call in enumerate(message.get("tool_calls") or ()):
        deltas.append({"tool_calls": [{"index": index, **call}]})
    chunks = [
        {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    chunks.append(
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]}
    )
    return chunks


def _main_text_completion(answer: dict[str, Any], stream: bool) -> tuple[int, Any, bool]:
    """A main model's answer on ``/v1/completions``: the handler's ``text_completion`` body as
    it is, or its ``chat.completion`` with each message's content as that choice's text; for
    ``stream=True``, per choice its text in pieces and then its finish."""
    if answer.get("object") != "text_completion":
        answer = {
            **{k: v for k, v in answer.items() if k != "choices"},
            "object": "text_completion",
            "choices": [
                {
                    "index": c.get("index", i),
                    "text": (c.get("message") or {}).get("content") or "",
                    "finish_reason": c.get("finish_reason") or "stop",
                    "logprobs": None,
                }
                for i, c in enumerate(answer.get("choices") or ())
            ],
        }
    if not stream:
        return 200, answer, False
    base = {k: v for k, v in answer.items() if k not in ("choices", "usage")}
    chunks = []
    for choice in answer["choices"]:
        text = choice.get("text") or ""
        steps = [text[i : i + 8] for i in range(0, len(text), 8)] + [""]
        for n, piece in enumerate(steps):
            one = {**choice, "text": piece, "logprobs": choice.get("logprobs") if n == 0 else None}
            one["finish_reason"] = choice.get("finish_reason") if n == len(steps) - 1 else None
            chunks.append({**base, "choices": [one]})
    return 200, chunks, True


def response_from_completion(completion: dict[str, Any]) -> dict[str, Any]:
    """The Responses API body (``object: "response"``) saying what a ``chat.completion`` says."""
    message = completion["choices"][0]["message"]
    output: list[dict[str, Any]] = []
    if message.get("content"):
        output.append(
            {
                "type": "message",
                "id": "msg_0",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": message["content"], "annotations": []}],
            }
        )
    for i, call in enumerate(message.get("tool_calls") or ()):
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{i}",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
        )
    return {
        "id": "resp_test",
        "object": "response",
        "created_at": completion["created"],
        "model": completion["model"],
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 1,
            "output_tokens": 1,
            "total_tokens": 2,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _response_events(response: dict[str, Any], piece: int = 8) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {
            "type": "response.created",
            "response": {**response, "status": "in_progress", "output": []},
        }
    ]
    for index, item in enumerate(response["output"]):
        at = {"output_index": index, "item_id": item["id"]}
        if item["type"] == "message":
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "content": []},
                }
            )
            text = item["content"][0]["text"]
            part = {"type": "output_text", "text": "", "annotations": []}
            events.append(
                {"type": "response.content_part.added", **at, "content_index": 0, "part": part}
            )
            events += [
                {
                    "type": "response.output_text.delta",
                    **at,
                    "content_index": 0,
                    "delta": text[i : i + piece],
                    "logprobs": [],
                }
                for i in range(0, len(text), piece)
            ]
            events.append(
                {
                    "type": "response.output_text.done",
                    **at,
                    "content_index": 0,
                    "text": text,
                    "logprobs": [],
                }
            )
            events.append(
                {
                    "type": "response.content_part.done",
                    **at,
                    "content_index": 0,
                    "part": {**part, "text": text},
                }
            )
        else:
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "arguments": ""},
                }
            )
            events.append(
                {"type": "response.function_call_arguments.delta", **at, "delta": item["arguments"]}
            )
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    **at,
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512
    allow_reuse_address = True
    owner: OpenAICompatServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._record(self.path, dict(self.headers), None)
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model"} for m in owner.model_names()]
            self._send(200, json.dumps({"object": "list", "data": data}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        owner._record(self.path, dict(self.headers), body)
        with owner._enter():
            self._post(owner, body)

    def _post(self, owner: OpenAICompatServer, body: dict[str, Any] | None) -> None:
        fault = owner._next_fault()
        if owner.latency or (fault and fault.delay):
            time.sleep(owner.latency + (fault.delay if fault else 0.0))
        if fault and fault.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if owner.api_key and self.headers.get("Authorization") != f"Bearer {owner.api_key}":
            return self._send(401, b'{"error": {"message": "invalid api key"}}')
        if fault and fault.echo_request:
            echoed = {"path": self.path, "headers": dict(self.headers)}
            message = f"refused {json.dumps(echoed)}"
            return self._send(fault.status, json.dumps({"error": {"message": message}}).encode())
        if fault and (fault.status != 200 or fault.body is not None):
            status = fault.status
            default = json.dumps({"error": {"message": f"injected {status}"}}).encode()
            return self._send(
                status, default if fault.body is None else fault.body, fault.headers, fault.trickle
            )
        if body is None:
            return self._send(400, b'{"error": {"message": "body is not JSON"}}')
        try:
            status, payload, stream = owner._answer(self.path, body, fault)
        except _HandlerFailed as exc:  # the test's own model handler: a server error
            error = {"message": str(exc), "type": "handler_error"}
            return self._send(500, json.dumps({"error": error}).encode())
        except _BadRequest as exc:
            error = {"message": str(exc), "type": "invalid_request_error"}
            return self._send(400, json.dumps({"error": error}).encode())
        except Exception as exc:  # a bad request from the client under test: say so
            message = f"bad request to {self.path}: {type(exc).__name__}: {exc}"
            error = {"message": message, "type": "invalid_request_error"}
            return self._send(400, json.dumps({"error": error}).encode())
        if stream:
            data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in payload)
            return self._send(
                status, data + b"data: [DONE]\n\n", {"Content-Type": "text/event-stream"}
            )
        self._send(
            status,
            json.dumps(payload).encode(),
            fault.headers if fault else {},
            fault.trickle if fault else None,
        )

    def _send(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        trickle: float | None = None,
    ) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            if trickle:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(trickle)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class OpenAICompatServer:
    """Serves ``/v1/chat/completions``, ``/v1/completions``, ``/v1/models`` and, for the
    main models, ``/v1/responses`` (the handler's ``chat.completion`` is converted, or it
    may return a ``response`` body itself) on loopback. A main model on ``/v1/completions``
    answers with its handler's ``text_completion`` body, or its ``chat.completion`` as one.

    Args:
        judge: the scripted guard model (default: ``bomb`` is unsafe).
        models: name -> handler for "main" chat models: ``handler(request_json)`` returns a
            ``chat.completion`` body (see :func:`chat_completion`); ``stream=True`` requests
            get it as SSE chunks. The handler receives the request body exactly as the client
            sent it, whichever path it came to: on ``/v1/responses`` that is the Responses
            request (``input``, ``instructions``, ``tools``, ``stream``, ...; no
            ``messages``), so one handler serving both APIs must look at which keys it got.
            There it may return a ``chat.completion`` (converted), a ``response`` body, or,
            for a stream, ``{"object": "events", "events": [...]}``: those events, sent as
            they are (a server whose events disagree with each other, for tests). A handler
            that raises, or returns something that cannot be sent, gets the client a 500
            whose message says the handler raised, with the exception's type and text; a
            request without ``messages`` (chat) or ``prompt`` (completions) gets a 400
            naming the missing field.
        family: force the guard family instead of guessing it from the request's model id.
        latency: seconds every POST waits before answering.
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get 401.
        disable_completions: answer ``/v1/completions`` with 404, like a server that offers
            only chat (OpenRouter, some gateways).
        logprobs: what ``/v1/completions`` does with a ``logprobs`` request field:
            ``"answer"`` (vLLM, NIM: :func:`completion_logprobs` in each choice),
            ``"ignore"`` (answers without them) or ``"refuse"`` (400, like a strict gateway).
        label_confidence: the probability the judge's answers give their verdict labels.
    """

    def __init__(
        self,
        judge: ScriptedJudge | None = None,
        *,
        models: Mapping[str, Handler] | None = None,
        family: str | None = None,
        latency: float = 0.0,
        api_key: str | None = None,
        disable_completions: bool = False,
        logprobs: Literal["answer", "ignore", "refuse"] = "answer",
        label_confidence: float = 0.9,
    ) -> None:
        self.judge = judge or ScriptedJudge()
        self.models = dict(models or {})
        self.family = family
        self.latency = latency
        self.api_key = api_key
        self.disable_completions = disable_completions
        self.logprobs = logprobs
        self.label_confidence = label_confidence
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def model_names(self) -> list[str]:
        return list(self.models)

    def start(self) -> OpenAICompatServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAICompatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each applies to the next ``times`` POST requests."""
        with self._lock:
            for fault in faults:
                self._faults.extend([fault] * fault.times)

    def posts(self, path_suffix: str = "/chat/completions") -> list[RecordedRequest]:
        """Recorded POST requests to a path (default: chat completions; any query ignored)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.body is not None and r.path.split("?", 1)[0].endswith(path_suffix)
            ]

    @contextlib.contextmanager
    def _enter(self) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any] | None) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(path, headers, body))

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _call(self, model: str, body: dict[str, Any], path: str) -> dict[str, Any]:
        """The ``models=`` handler of ``model`` on ``body``; its exception, or an answer that
        is not a JSON object, becomes a 500 naming the handler, the exception and the path."""
        try:
            answer = self.models[model](body)
        except Exception as exc:
            hint = (
                " (a /responses handler receives the Responses request body as sent: "
                f"'input', 'instructions', 'tools', no 'messages'; this one had {_keys(body)})"
                if path.endswith("/responses")
                else ""
            )
            raise _HandlerFailed(
                f"the handler of model {model!r} raised {type(exc).__name__}: {exc} "
                f"on POST {path}{hint}"
            ) from exc
        if not isinstance(answer, dict):
            raise _HandlerFailed(
                f"the handler of model {model!r} returned {type(answer).__name__} on POST "
                f"{path}; return a chat.completion body (guard_core.testing.chat_completion)"
            )
        return answer

    def _answer(
        self, path: str, body: dict[str, Any], fault: Fault | None
    ) -> tuple[int, Any, bool]:
        model = body.get("model", "")
        path = path.split("?", 1)[0]  # a base URL may carry a query (``?api-key=``)
        if path.endswith("/completions") and not path.endswith("/chat/completions"):
            if self.disable_completions:
                return 404, {"error": {"message": f"{path} not found"}}, False
            if model in self.models:
                answer = self._call(model, body, path)
                with _converting(model, path):
                    return _main_text_completion(answer, bool(body.get("stream")))
            prompt = body.get("prompt")
            if not isinstance(prompt, str | list):
                raise _BadRequest(
                    f"the request to {path} has no 'prompt' field (a string or a list of "
                    f"strings); got {_keys(body)}"
                )
            prompts = prompt if isinstance(prompt, list) else [prompt]
            asked = body.get("logprobs")
            if asked is not None and self.logprobs == "refuse":
                return 400, {"error": {"message": "logprobs is not supported here"}}, False
            choices = [
                {
                    "index": i,
                    "text": fault.text
                    if fault and fault.text is not None
                    else self.judge.answer_raw_prompt(p),
                    "finish_reason": fault.finish_reason if fault else "stop",
                }
                for i, p in enumerate(prompts)
            ]
            if isinstance(asked, int) and asked > 0 and self.logprobs == "answer":
                for choice in choices:
                    choice["logprobs"] = (
                        fault.logprobs
                        if fault and fault.logprobs is not None
                        else completion_logprobs(str(choice["text"]), asked, self.label_confidence)
                    )
            return (
                200,
                {
                    "id": "cmpl-test",
                    "object": "text_completion",
                    "model": model,
                    "created": int(time.time()),
                    "choices": choices,
                },
                False,
            )
        if path.endswith("/responses") and model in self.models:
            answer = self._call(model, body, path)
            with _converting(model, path):
                if answer.get("object") == "events" and body.get("stream"):
                    return (
                        200,
                        [{**e, "sequence_number": n} for n, e in enumerate(answer["events"])],
                        True,
                    )
                response = (
                    answer
                    if answer.get("object") == "response"
                    else response_from_completion(answer)
                )
                if body.get("stream"):
                    return 200, _response_events(response), True
                return 200, response, False
        if not isinstance(body.get("messages"), list):
            raise _BadRequest(
                f"the request to {path} has no 'messages' field (a list of chat messages); "
                f"got {_keys(body)}"
            )
        if model in self.models:
            completion = self._call(model, body, path)
            with _converting(model, path):
                if body.get("stream"):
                    return 200, _sse_chunks(completion), True
                return 200, completion, False
        family = family_for_model(model, self.family).name
        if fault and fault.text is not None:
            text, reasoning = fault.text, fault.reasoning
        else:
            text, reasoning = self.judge.answer(
                family, body["messages"], body.get("chat_template_kwargs")
            )
        return (
            200,
            chat_completion(
                text,
                model=model,
                reasoning=reasoning,
                finish_reason=fault.finish_reason if fault else "stop",
            ),
            False,
        )


def _keys(body: Mapping[str, Any]) -> str:
    return f"fields {', '.join(map(repr, sorted(body)))}" if body else "no fields"


@contextlib.contextmanager
def _converting(model: str, path: str) -> Iterator[None]:
    """A handler's answer this server cannot turn into the reply asked for: a 500 naming it."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise _HandlerFailed(
            f"the handler of model {model!r} returned a body that is not a chat.completion "
            f"(nor a response / events body on /responses) on POST {path}: "
            f"{type(exc).__name__}: {exc}; build it with guard_core.testing.chat_completion"
        ) from exc


def serve(models: Iterable[str] = ()) -> None:  # pragma: no cover - manual use
    """Run a server in the foreground for manual poking: ``python -m guard_core.testing.server``."""
    with OpenAICompatServer() as server:
        print(f"serving on {server.base_url}; Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    serve()
