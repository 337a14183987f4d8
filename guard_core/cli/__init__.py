"""The ``guard-core`` command (also ``python -m guard_core.cli``).

``main`` parses the command line; the subcommands live beside it: ``sample`` (the demo
traffic), ``corpus`` / ``corpus_files`` (``screen-corpus``), ``common`` (output and exit
codes shared by all of them).
"""

from __future__ import annotations

from guard_core.cli.main import main

__all__ = ["main"]
