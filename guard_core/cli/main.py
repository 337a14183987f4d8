"""The ``guard-core`` command: try a guard model on sample traffic, a text, or a whole corpus.

::

    guard-core sample                       # the built-in sample of agent traffic
    guard-core screen "how do I ..." --surface input --policy policies.yaml --agent devops
    echo '{"cmd": "rm -rf /"}' | guard-core screen - --surface tool_call --tool shell --json
    guard-core screen-corpus docs/ --report verdicts.jsonl
    guard-core probe                        # does the endpoint answer in the model's format?
    guard-core policy check policies.yaml   # validate and show a policy file

The backend comes from the environment (see :mod:`guard_core.backends.autoselect`);
``--backend-url`` and ``--model`` override it. Also runnable as ``python -m guard_core.cli``.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence

from guard_core.cli.common import (
    TEXT_SURFACES,
    add_backend_flags,
    build_item,
    default_policy,
    load_policies,
    open_backend,
    out,
    say,
    verdict_json,
    verdict_text,
)
from guard_core.content import SURFACES
from guard_core.errors import ConfigurationError, ContentError
from guard_core.guard import Guard
from guard_core.models import FAMILIES, ModelFamily, family_for_model
from guard_core.policy import Policy, PolicySet
from guard_core.taxonomy import render_taxonomy

__all__ = ["build_parser", "main"]

EPILOG = """\
exit codes:
  0    everything allowed (sample: every item was judged; probe: the endpoint is fine;
       policy check: the file is valid)
  1    something was blocked, or the guard could not judge it (fail closed)
       (sample: the guard failed on an item; probe: a problem was found)
  2    usage or configuration error: bad flag, bad policy file, no backend configured,
       nothing to screen (an empty corpus is an error, so a wrong path never passes)
  130  interrupted (Ctrl-C); screen-corpus leaves a report of complete lines

backend, from the environment (the first that is set wins; GUARD_BACKEND forces one):
  GUARD_BASE_URL (+ GUARD_MODEL, GUARD_API_KEY, GUARD_FAMILY)  your own vLLM / NIM server
  NVIDIA_API_KEY                                               the NVIDIA API catalog
  OPENROUTER_API_KEY                                           OpenRouter
  a CUDA GPU                                                   the model, locally
  GUARD_BACKEND=url|nim|openrouter|local|demo|remote|auto
the local model is a folder or a model id in the Hugging Face cache (hf download MODEL);
GUARD_ALLOW_DOWNLOAD=1 lets it be downloaded instead.
API keys are read from the environment only and never printed.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``guard-core``."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="guard-core",
        formatter_class=fmt,
        epilog=EPILOG,
        description="Screen agent traffic with NVIDIA Nemotron content-safety guard models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sample = sub.add_parser(
        "sample",
        help="screen a built-in sample of agent traffic",
        formatter_class=fmt,
        epilog=EPILOG,
    )
    _policy_flags(sample)
    add_backend_flags(sample)

    screen = sub.add_parser(
        "screen", help="screen one text (or - for stdin)", formatter_class=fmt, epilog=EPILOG
    )
    screen.add_argument(
        "text",
        metavar="TEXT",
        help="the text; - reads stdin; for --surface "
        "image a file path or URL; for tool_call the JSON arguments",
    )
    screen.add_argument("--surface", choices=SURFACES, default="input")
    screen.add_argument("--context", help="the user request, for output and tool_call")
    screen.add_argument("--tool", help="the tool name, for tool_call and tool_result")
    screen.add_argument("--json", action="store_true", help="print the verdict as JSON")
    _policy_flags(screen)
    add_backend_flags(screen)

    corpus = sub.add_parser(
        "screen-corpus",
        help="screen every .txt/.md/.jsonl file of a folder",
        formatter_class=fmt,
        epilog=EPILOG,
    )
    corpus.add_argument("path", metavar="PATH", help="a folder (searched recursively) or a file")
    corpus.add_argument(
        "--report", metavar="FILE", help="write one JSON line per item (- for stdout)"
    )
    corpus.add_argument(
        "--surface",
        choices=TEXT_SURFACES,
        default="input",
        help="surface of items that do not say (default: input)",
    )
    corpus.add_argument(
        "--chunk-size",
        type=_positive,
        default=64,
        help="items screened concurrently, and reported, per step (default 64)",
    )
    corpus.add_argument(
        "--max-bytes",
        type=_positive,
        default=1 << 20,
        help="larger files and lines are error records (default 1 MiB)",
    )
    corpus.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    _policy_flags(corpus)
    add_backend_flags(corpus)

    probe = sub.add_parser(
        "probe",
        help="check the endpoint answers in the model's format",
        formatter_class=fmt,
        epilog=EPILOG,
    )
    add_backend_flags(probe)

    policy = sub.add_parser("policy", help="policy files").add_subparsers(
        dest="policy_command", metavar="ACTION", required=True
    )
    check = policy.add_parser(
        "check", help="validate a policy file and show it", formatter_class=fmt, epilog=EPILOG
    )
    check.add_argument("file", metavar="FILE", help="a .yaml, .yml or .toml policy set")
    check.add_argument("--model", help="also check every policy works with this guard model")
    return parser


def _policy_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help="a policy set (.yaml/.toml)")
    parser.add_argument("--agent", help="the agent whose policy judges (default: the default)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``guard-core`` with ``argv`` (default: the command line); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sample":
            from guard_core.cli.sample import run_sample

            return run_sample(args)
        if args.command == "screen-corpus":
            from guard_core.cli.corpus import run_corpus

            return run_corpus(args)
        return {"screen": _screen, "probe": _probe, "policy": _policy_check}[args.command](args)
    except (ConfigurationError, ContentError) as exc:
        say(f"guard-core: error: {exc}")
        return 2
    except KeyboardInterrupt:
        say("guard-core: interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (| head): stop quietly, and let the exit flush go nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _screen(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.text == "-" else args.text
        text.encode("utf-8")  # undecodable bytes arrive as lone surrogates: refuse them here
    except UnicodeError:
        raise ContentError("the text is not UTF-8; convert it first") from None
    item = build_item(args.surface, text, context=args.context, tool=args.tool)
    policies = load_policies(args.policy)
    backend, banner = open_backend(args, allow_demo=False)
    say(banner)
    with backend:
        guard = Guard(backend, policies if policies is not None else default_policy(backend.family))
        verdict = guard.check(item, agent=args.agent)
    out(verdict_json(verdict) if args.json else verdict_text(verdict))
    return 0 if verdict.allowed else 1


def _probe(args: argparse.Namespace) -> int:
    backend, banner = open_backend(args, allow_demo=False)
    say(banner)
    with backend:
        probe = getattr(backend, "probe", None)
        if probe is None:
            say(
                f"guard-core: error: {backend.describe()} has no probe; probe checks a remote "
                "endpoint (GUARD_BASE_URL, NVIDIA_API_KEY or OPENROUTER_API_KEY)"
            )
            return 2
        result = probe()
    out(str(result))
    return 0 if result.ok else 1


def _policy_check(args: argparse.Namespace) -> int:
    policies = PolicySet.from_file(args.file)
    named = [("default", policies.default)] if policies.default else []
    named += [(f"agent {agent}", policy) for agent, policy in policies]
    families = [cls() for cls in FAMILIES.values()]
    if args.model:
        families = [family_for_model(args.model)]
        for _, policy in named:
            families[0].check_policy(policy)
    out(
        f"{args.file}: valid; agents: {', '.join(policies.agents) or '(none)'}; "
        + (
            "a default for every other agent"
            if policies.default
            else "no default: any other agent is an error"
        )
    )
    for label, policy in named:
        out("\n" + _describe(label, policy, families))
    if args.model:
        out(f"\nevery policy works with {args.model}")
    return 0


def _describe(label: str, policy: Policy, families: Sequence[ModelFamily]) -> str:
    if policy.custom is not None:
        judge = "a custom policy (replaces the model's instructions and taxonomy):\n" + "\n".join(
            f"    | {line}".rstrip() for line in policy.custom.render().splitlines()
        )
    elif policy.categories is not None:
        judge = "its own categories (a custom taxonomy, under the model's instructions)"
    elif policy.exclude_categories:
        judge = "the standard taxonomy, except: " + ", ".join(sorted(policy.exclude_categories))
    else:
        judge = "the standard taxonomy"
    if policy.extra_categories:
        judge += "; plus: " + ", ".join(policy.extra_categories)
    actions = (
        ", ".join(f"{s}={policy.action_for(s)}" for s in SURFACES if s in policy.actions)
        or "block everywhere"
    )
    lines = [
        f"{label}: policy {policy.name!r} (version {policy.version})",
        f"  mode:      {policy.mode}",
        f"  judges by: {judge}",
        *_category_lists(policy, families),
        f"  surfaces:  {', '.join(s for s in SURFACES if s in policy.surfaces)}",
        f"  actions:   {actions}" + (" (block elsewhere)" if policy.actions else ""),
        f"  on_error:  {policy.on_error}"
        + (" (guard failures let content through, audited)" if policy.on_error == "allow" else ""),
    ]
    if policy.description:
        lines.append(f"  about:     {policy.description}")
    return "\n".join(lines)


def _category_lists(policy: Policy, families: Sequence[ModelFamily]) -> list[str]:
    """The category list each family's model reads under ``policy``, one entry each."""
    if policy.custom is not None:
        return ["  categories: named by the custom policy's text"]
    if policy.categories is not None:
        own = render_taxonomy(policy.categories).splitlines()
        return ["  categories, the same on every model:", *(f"    | {line}" for line in own)]
    lines = ["  categories, as each model reads them:"]
    for family in families:
        taxonomy = family.taxonomy(policy) or {}
        # no-break spaces keep each "S1 Name" on one line when wrapped
        shown = ", ".join(f"{code} {name}".replace(" ", "\xa0") for code, name in taxonomy.items())
        absent = sorted(set(policy.exclude_categories) - set(family.categories.values()))
        if absent:
            shown += f" (not in its list, so no effect: {', '.join(absent)})"
        wrapped = textwrap.wrap(
            f"{family.name} ({len(taxonomy)}): {shown}",
            width=96,
            initial_indent="    ",
            subsequent_indent="      ",
        )
        lines += [line.replace("\xa0", " ") for line in wrapped]
    return lines


if __name__ == "__main__":
    sys.exit(main())
