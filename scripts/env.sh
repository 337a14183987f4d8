# Sourced by scripts/run and scripts/test: create or reuse a virtual environment and install
# what the project needs, at the versions CI tested. torch==2.13.0 goes first (a local CPU
# wheel); any other torch spec would pull gigabytes of CUDA packages.
#
# GUARD_TIER picks what is installed (scripts/test --latest / --coinstall set it):
#   locked     constraints.txt, in .venv (the default; what CI runs)
#   coinstall  requirements/coinstall-py311.txt (+ the frameworks' OpenAI packages, openai 2.x),
#              in .venv-coinstall
#   latest     the newest releases pyproject.toml allows, in a fresh .venv-latest every time
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TIER="${GUARD_TIER:-locked}"
PY="${PYTHON:-python3}"
case "$TIER" in
  locked)    LOCK="$ROOT/constraints.txt"; EXTRAS="dev"
             VENV="${GUARD_VENV:-$ROOT/.venv}" ;;
  coinstall) LOCK="$ROOT/requirements/coinstall-py311.txt"; EXTRAS="dev"
             VENV="${GUARD_VENV:-$ROOT/.venv-coinstall}" ;;
  latest)    LOCK=""; EXTRAS="dev"
             VENV="${GUARD_VENV:-$ROOT/.venv-latest}"; rm -rf "$VENV" ;;
  *) echo "unknown GUARD_TIER=$TIER (locked, coinstall or latest)" >&2; exit 2 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment in $VENV ($TIER tier)" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.guard-core-installed"
WANT="$(cat "$ROOT/pyproject.toml" ${LOCK:+"$LOCK"} | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing guard-core and its dependencies into $VENV (first run takes a few minutes)" >&2
  PIP=("$VENV/bin/python" -m pip install -q)
  "${PIP[@]}" --upgrade pip
  # The project was named guard-core before (a name the package index gives another project):
  # an old install, and the metadata folder its editable install left here, make
  # `import guard_core` refuse to run (guard_core/_distribution.py).
  "$VENV/bin/python" -m pip uninstall -y -q guard-core >/dev/null 2>&1 || true
  rm -rf "$ROOT/guard_core.egg-info"
  if [ -n "$LOCK" ]; then
    "${PIP[@]}" -c "$LOCK" "torch==2.13.0"
    if [ "$TIER" = coinstall ]; then
      "${PIP[@]}" -c "$LOCK" -e "$ROOT[$EXTRAS]" llama-index-llms-openai langchain-openai \
        openai-agents
    else
      "${PIP[@]}" -c "$LOCK" -e "$ROOT[$EXTRAS]"
    fi
  else
    "${PIP[@]}" -c "$ROOT/requirements/torch.txt" "torch==2.13.0"
    "${PIP[@]}" -c "$ROOT/requirements/torch.txt" --upgrade --upgrade-strategy eager \
      -e "$ROOT[$EXTRAS]"
  fi
  "$VENV/bin/python" -m pip check >&2
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
