"""The package list, found in the tree: guard_core's packages, and ``integrations/``
installed as ``guard_core.integrations`` (a required top-level folder, DESIGN.md 1; the
``package-dir`` mapping is in pyproject.toml, with everything else). A new subpackage ships
without anyone editing a list; ``tests/test_packaging.py`` builds the wheel to check."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["guard_core", "guard_core.*"]),
        "guard_core.integrations",
        *(f"guard_core.integrations.{name}" for name in find_packages("integrations")),
    ]
)
