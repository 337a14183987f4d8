"""What a block under ``GuardCallbackHandler`` prints: LangChain's callback manager logs a
warning for every exception a callback raises (``raise_error`` or not; there is no switch),
so a normal block shows ``Error in GuardCallbackHandler.on_tool_start callback:
GuardViolation(...)`` on stderr. The README explains it and gives the one logging filter that
drops only those lines; both are checked here, in a real child process with no logging set
up (where Python's last-resort handler writes warnings to stderr)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The README's line, verbatim (test_readme_gives_this_filter keeps the two the same).
FILTER = (
    'logging.getLogger("langchain_core.callbacks.manager")'
    '.addFilter(lambda r: "GuardViolation(" not in r.getMessage())'
)

_RUN = """
import logging, sys
from langchain_core.tools import tool
from guard_core import Guard, GuardViolation
from guard_core.integrations.langchain import GuardCallbackHandler
from guard_core.testing import ScriptedBackend

if sys.argv[1] == "filtered":
{filter}

@tool
def run_shell(command: str) -> str:
    \"\"\"Run a shell command.\"\"\"
    return "ran"

handler = GuardCallbackHandler(Guard(ScriptedBackend()))
try:
    run_shell.invoke({{"command": "bomb the disk"}}, config={{"callbacks": [handler]}})
except GuardViolation as exc:
    print("blocked:", exc.verdict.surface)
"""


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    script = _RUN.format(filter="\n".join("    " + line for line in FILTER.splitlines()))
    return subprocess.run(
        [sys.executable, "-c", script, mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("mode", ["plain", "filtered"])
def test_a_blocked_run_logs_langchains_warning_unless_filtered(mode: str) -> None:
    done = _run(mode)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "blocked: tool_call\n"  # the block itself is the same either way
    if mode == "plain":
        assert done.stderr.startswith(
            "Error in GuardCallbackHandler.on_tool_start callback: GuardViolation("
        ), done.stderr
        assert done.stderr.count("\n") == 1  # that one line, no traceback
    else:
        assert done.stderr == ""


def test_readme_gives_this_filter() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert FILTER in readme
    assert "Error in GuardCallbackHandler.on_tool_start callback: GuardViolation(" in readme
