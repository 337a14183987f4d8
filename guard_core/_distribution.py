"""Which distribution ships ``guard_core``, and refusing to run beside another that does.

The import package is ``guard_core``; the distribution is :data:`DISTRIBUTION`, because the
name ``guard-core`` on the package index belongs to an unrelated project that also installs
a top-level ``guard_core``. Two distributions writing one package directory leave a mix of
both projects' files, which fails much later as a confusing ``AttributeError``; importing
``guard_core`` beside the other one therefore stops at once, naming both and the fix.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

__all__ = ["DISTRIBUTION", "check_distribution", "pip_install"]

DISTRIBUTION = "guard-core-agents"
# The index's "guard-core" (a security engine for another ecosystem), and this project's own
# name before 0.1.0 was published: a venv that installed either one keeps its metadata.
TAKEN_NAME = "guard-core"
_OUR_SUMMARY = "NVIDIA Nemotron content-safety guards"


def pip_install(extra: str | None = None) -> str:
    """The install command for this distribution, with ``extra`` if given."""
    return f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {DISTRIBUTION}"


def check_distribution() -> None:
    """Raise :class:`DistributionConflictError` when ``guard-core`` is installed too."""
    from guard_core.errors import DistributionConflictError  # errors imports pip_install

    try:
        other = distribution(TAKEN_NAME)
    except PackageNotFoundError:
        return
    summary = (other.metadata.get_all("Summary") or [""])[0]
    where = f"{TAKEN_NAME} {other.version}"
    if summary.startswith(_OUR_SUMMARY):
        # An editable install leaves its metadata folder in the checkout, which is on
        # sys.path when Python runs from there: pip uninstall does not remove that one.
        stale = Path(str(other.locate_file("guard_core.egg-info"))).resolve()
        fix = f"delete {stale}" if stale.is_dir() else f"pip uninstall -y {TAKEN_NAME}"
        raise DistributionConflictError(
            f"{where} is this project under its former name, still installed beside "
            f"{DISTRIBUTION}; both claim the import package guard_core. Remove the old "
            f"one: {fix}"
        )
    raise DistributionConflictError(
        f"the distribution {where} ({summary or 'no summary'}) is installed, and it also "
        f"installs a top-level package named guard_core, so the files under guard_core/ may "
        f"be a mix of that project and {DISTRIBUTION} (the Nemotron guards). "
        f"Run: pip uninstall -y {TAKEN_NAME} {DISTRIBUTION}, then "
        f"pip install '{DISTRIBUTION}[...]' (or pip install -e . in a checkout). "
        f"If you meant the other project, uninstall {DISTRIBUTION} instead."
    )
