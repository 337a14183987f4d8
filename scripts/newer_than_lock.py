"""Print the installed distributions whose version differs from a lock file's pin.

    python scripts/newer_than_lock.py constraints.txt

Run by ``scripts/test --latest`` before the suite, so its log says which releases it tried.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(lock: str) -> int:
    pinned = {
        _key(m[1]): m[2] for line in Path(lock).read_text().splitlines() if (m := _PIN.match(line))
    }
    installed = {_key(d.metadata["Name"]): d.version for d in distributions()}
    changed = sorted(
        (name, pinned[name], version)
        for name, version in installed.items()
        if name in pinned and pinned[name] != version
    )
    added = sorted(set(installed) - set(pinned) - {"guard-core", "pip", "torch"})
    print(f"latest tier: {len(changed)} of {len(pinned)} locked packages at other versions")
    for name, old, new in changed:
        print(f"  {name:32} {old:>14} -> {new}")
    if added:
        print("  not in the lock: " + ", ".join(added))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
