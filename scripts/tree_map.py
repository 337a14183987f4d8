"""The map of the source tree, from each module's and package's own docstring.

README.md shows the packages and the core's modules (``--packages``); CONTRIBUTING.md shows
every module. Both sit between ``<!-- tree-map:KIND -->`` and ``<!-- /tree-map -->`` and
``tests/test_tree_map.py`` fails when either is out of date::

    python scripts/tree_map.py --write      # regenerate both
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 100
NAME_COLUMN = 28
SKIP = {"__pycache__", "fixtures", "templates"}
TARGETS = {"packages": ROOT / "README.md", "modules": ROOT / "CONTRIBUTING.md"}


def summary(path: Path) -> str:
    """The first sentence of the docstring, fitted to the line."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    text = " ".join(doc.split("\n\n")[0].split())
    text = re.split(r"(?<=[a-z0-9)`])[.;](?:\s|$)", text, maxsplit=1)[0]
    room = WIDTH - NAME_COLUMN
    if len(text) > room:
        text = text[: room - 3].rsplit(" ", 1)[0] + " ..."
    return text


def _line(indent: int, name: str, path: Path) -> str:
    label = "  " * indent + name
    return f"{label:<{NAME_COLUMN}}{summary(path)}".rstrip()


def _walk(folder: Path, shown: str, indent: int, every_module: bool) -> list[str]:
    lines = [_line(indent, shown + "/", folder / "__init__.py")]
    for path in sorted(folder.iterdir()):
        if path.name in SKIP or path.name.startswith("."):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            lines += _walk(path, path.name, indent + 1, every_module)
        elif path.suffix == ".py" and path.name != "__init__.py":
            top_level = folder == ROOT / "guard_core"
            if every_module or top_level:
                lines.append(_line(indent + 1, path.name, path))
    return lines


def tree_map(kind: str) -> str:
    every = kind == "modules"
    lines = _walk(ROOT / "guard_core", "guard_core", 0, every)
    lines += _walk(ROOT / "integrations", "integrations", 0, every)
    return "```\n" + "\n".join(lines) + "\n```\n"


def replaced(text: str, kind: str) -> str:
    start, end = f"<!-- tree-map:{kind} -->\n", "<!-- /tree-map -->"
    head, found, rest = text.partition(start)
    if not found:
        raise SystemExit(f"no {start.strip()} marker in {TARGETS[kind].name}")
    return head + start + tree_map(kind) + end + rest.partition(end)[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update README.md, CONTRIBUTING.md")
    parser.add_argument("--packages", action="store_true", help="print the README's map")
    args = parser.parse_args()
    if args.write:
        for kind, target in TARGETS.items():
            target.write_text(replaced(target.read_text(), kind))
        return 0
    sys.stdout.write(tree_map("packages" if args.packages else "modules"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
