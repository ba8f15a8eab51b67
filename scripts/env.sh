# Sourced by scripts/bench.sh and scripts/test.sh: make sure .venv exists and
# holds this checkout's dependencies (pyproject ranges, constraints.txt pins).
# Re-installs when pyproject.toml or constraints.txt change.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
VENV="$ROOT/.venv"
stamp_now=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.toyad-stamp" 2>/dev/null)" != "$stamp_now" ]; then
    echo "toyad: setting up $VENV (numpy, pandas, pytest-benchmark, TensorFlow, JAX, PyTorch; a few minutes the first time)" >&2
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[all]" -c constraints.txt
    echo "$stamp_now" > "$VENV/.toyad-stamp"
    # ~2 GB of new files sit dirty in the page cache and are flushed ~30 s later: wait
    # for that here, not in the middle of the first run's timings
    sync
fi
export PATH="$VENV/bin:$PATH"
