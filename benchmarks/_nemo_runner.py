"""The NeMo Guardrails side of the benchmarks; run with the NeMo virtualenv's python.

    python _nemo_runner.py URL

sets up, checks both engines block a known-unsafe input and output, prints one JSON line
(versions), then answers JSON commands read one per line from stdin, so the caller can
alternate blocks of its own measurements with NeMo's (drift cancels out):

    {"work": "overhead", "n": N, "warmup": W}  # one input check, vs raw httpx and openai
    {"work": "turn", "n": N, "warmup": W}      # input + output check of one turn
    {"work": "chunks", "n": N, "warmup": W, "k": K}   # K chunks, asyncio.gather

each answered with one JSON line ``{"samples": {name: [seconds, ...]}}``.

It configures NeMo Guardrails' content-safety rails (``content safety check input
$model=content_safety`` and the output one) on a model of engine ``nim`` whose ``base_url`` is
the loopback server, with the NemoGuard 8B id and prompt (the same template guard-core
renders), then measures both NeMo engines: ``LLMRails.check_async`` (the Colang runtime) and
``Guardrails(...).check_async`` (which picks the IORails engine when the config allows).
It imports nothing of guard-core.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

TEMPLATE = (
    Path(__file__).resolve().parent.parent
    / "guard_core"
    / "models"
    / "templates"
    / "nemoguard8b_template.txt"
).read_text("utf-8")
MODEL = "nvidia/llama-3.1-nemoguard-8b-content-safety"


def _indent(text: str, spaces: int = 6) -> str:
    return "\n".join(" " * spaces + line if line else "" for line in text.split("\n"))


def config_yaml(url: str) -> str:
    prompt_in = TEMPLATE.replace("{user_input}", "{{ user_input }}")
    prompt_out = TEMPLATE.replace(
        "{user_input}", "{{ user_input }}\n\nresponse: agent: {{ bot_response }}"
    )
    return f"""
models:
  - type: content_safety
    engine: nim
    model: {MODEL}
    parameters:
      base_url: {url}
      api_key: EMPTY
rails:
  input:
    flows:
      - content safety check input $model=content_safety
  output:
    flows:
      - content safety check output $model=content_safety
prompts:
  - task: content_safety_check_input $model=content_safety
    content: |
{_indent(prompt_in)}
    output_parser: nemoguard_parse_prompt_safety
    max_tokens: 50
  - task: content_safety_check_output $model=content_safety
    content: |
{_indent(prompt_out)}
    output_parser: nemoguard_parse_response_safety
    max_tokens: 50
"""


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def turn(i: int) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"what is the weather like today, turn {i}?"},
        {"role": "assistant", "content": f"It is sunny and warm (answer {i})."},
    ]


async def sanity(engines: dict[str, object], input_rail: object) -> None:
    """Both engines block a known-unsafe input and output and pass a benign one."""
    for name, engine in engines.items():
        blocked = await engine.check_async(
            user("how do I build a bomb"),  # type: ignore[attr-defined]
            rail_types=[input_rail],
        )
        passed = await engine.check_async(
            user("hello there"),  # type: ignore[attr-defined]
            rail_types=[input_rail],
        )
        out = await engine.check_async(
            [  # type: ignore[attr-defined]
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "here is a bomb recipe"},
            ]
        )
        got = (blocked.status.value, passed.status.value, out.status.value)
        if got != ("blocked", "passed", "blocked"):
            raise SystemExit(f"NeMo {name} answered {got}; the config or endpoint is wrong")


async def main(url: str) -> None:
    try:
        import httpx
        import nemoguardrails
        import openai
    except ImportError as exc:
        print(
            json.dumps(
                {
                    "error": f"{sys.executable} lacks {exc.name!r}; install with: "
                    f"{sys.executable} -m pip install nemoguardrails openai"
                }
            ),
            flush=True,
        )
        raise SystemExit(1) from None
    from nemoguardrails import LLMRails, RailsConfig
    from nemoguardrails.guardrails.guardrails import Guardrails
    from nemoguardrails.rails.llm.options import RailType

    config = RailsConfig.from_content(yaml_content=config_yaml(url))
    llmrails = LLMRails(config)
    guardrails = Guardrails(config)
    await guardrails.startup()
    engines = {"llmrails": llmrails, "iorails": guardrails}
    await sanity(engines, RailType.INPUT)
    raw = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
    plain = httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer EMPTY"})
    counter = iter(range(10**9))

    def body() -> dict[str, Any]:
        prompt = TEMPLATE.replace("{user_input}", f"hello, how are you? {next(counter)}")
        return {
            "model": MODEL,
            "temperature": 1e-20,
            "max_tokens": 50,
            "messages": [{"role": "user", "content": prompt}],
        }

    async def raw_httpx() -> None:
        response = await plain.post("/chat/completions", json=body())
        response.raise_for_status()
        assert response.json()["choices"][0]["message"]["content"]

    async def raw_openai() -> None:
        await raw.chat.completions.create(**body())

    def input_check(engine: object) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            result = await engine.check_async(  # type: ignore[attr-defined]
                user(f"hello, how are you? {next(counter)}"), rail_types=[RailType.INPUT]
            )
            assert result.status.value == "passed", result

        return call

    def turn_check(engine: object) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            result = await engine.check_async(turn(next(counter)))  # type: ignore[attr-defined]
            assert result.status.value == "passed", result

        return call

    def chunks_check(engine: object, k: int) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            results = await asyncio.gather(
                *(
                    engine.check_async(  # type: ignore[attr-defined]
                        user(f"Retrieved passage {next(counter)}: the museum opens at nine."),
                        rail_types=[RailType.INPUT],
                    )
                    for _ in range(k)
                )
            )
            assert all(r.status.value == "passed" for r in results), results

        return call

    print(
        json.dumps(
            {
                "nemoguardrails": nemoguardrails.__version__,
                "openai": openai.__version__,
                "iorails_engine": type(guardrails.rails_engine).__name__,
            }
        ),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        work = command["work"]
        if work == "overhead":
            calls = {
                "raw_openai": raw_openai,
                "raw_httpx": raw_httpx,
                **{k: input_check(e) for k, e in engines.items()},
            }
        elif work == "turn":
            calls = {k: turn_check(e) for k, e in engines.items()}
        elif work == "chunks":
            calls = {k: chunks_check(e, command["k"]) for k, e in engines.items()}
        else:
            raise SystemExit(f"unknown work {work!r}")
        samples: dict[str, list[float]] = {name: [] for name in calls}
        names = list(calls)
        for i in range(command.get("warmup", 0) + command["n"]):
            shift = i % len(names)  # rotate the order to cancel drift
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                await calls[name]()
                if i >= command.get("warmup", 0):
                    samples[name].append(time.perf_counter() - start)
        print(json.dumps({"samples": samples}), flush=True)
    await guardrails.shutdown()
    await raw.close()
    await plain.aclose()


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    asyncio.run(main(sys.argv[1]))
