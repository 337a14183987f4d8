"""guard-core for the OpenAI Agents SDK (``pip install 'guard-core-agents[openai-agents]'``).

The SDK's own guardrails, judged by a :class:`~guard_core.Guard` under each agent's policy
(the policy named like the agent, also after a handoff):

- :func:`with_guardrails`: one call puts all four on an agent, the agents it hands off to, and
  their function tools; what they cannot cover (hosted tools, MCP servers) is refused.
- :func:`guard_input` / :func:`guard_output`: ``InputGuardrail`` / ``OutputGuardrail``. A
  block trips the SDK's tripwire (``InputGuardrailTripwireTriggered`` /
  ``OutputGuardrailTripwireTriggered``), whose ``output_info`` is the blocking Verdict.
- :func:`guard_tool_input` / :func:`guard_tool_output`: ``ToolInputGuardrail`` /
  ``ToolOutputGuardrail``: a blocked call never runs, a blocked result never reaches the
  model; they raise the SDK's tool tripwires or, with ``on_block="refuse"``, hand the model
  the refusal and let the run go on.
- :func:`verdict_of`: the Verdict behind any of those exceptions.

Where the SDK's guardrails can only abort, and the blocking form:

- input guardrails run **before** the model here (``run_in_parallel=False``; the SDK's
  default is in parallel, where a tripwire only aborts a call the model already read);
- the output guardrail judges the final output; in ``Runner.run_streamed`` its text events
  reach the consumer first, and text the model says beside a tool call is no final output.
  For a stream released only once screened, and every answer judged, build the agent's
  model on a guarded client: ``OpenAIResponsesModel(model=..., openai_client=
  guard_openai(AsyncOpenAI(), guard, agent="billing"))`` (``on_block="refuse"`` answers
  with what the SDK treats as a refusal: ``ModelRefusalError``, for ``error_handlers``);
- the SDK runs input guardrails for the starting agent only: after a handoff the history is
  not judged again under the next agent's policy (a guarded client per agent's model is).

>>> from agents import Agent  # doctest: +SKIP
>>> agent = with_guardrails(Agent(name="support", tools=[lookup]), guard)  # doctest: +SKIP
"""

from __future__ import annotations

from guard_core.errors import MissingDependencyError

try:
    import agents  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
except ImportError:
    raise MissingDependencyError("openai-agents", "openai-agents") from None

from .agent import with_guardrails
from .guardrails import guard_input, guard_output, guard_tool_input, guard_tool_output, verdict_of

__all__ = [
    "guard_input",
    "guard_output",
    "guard_tool_input",
    "guard_tool_output",
    "verdict_of",
    "with_guardrails",
]
