#!/usr/bin/env bash
# Real WARC/ARC test archives: pywb 2.10.0's sample_archive/warcs (an iana.org crawl, wget and
# wpull output, revisit records, ARC files and deliberately broken files), from its PyPI wheel.
# Not committed; downloaded once into .cache/pywb/. Prints the directory holding the files.
#   MDF_PYWB_WARCS=$(bash scripts/fetch_pywb_samples.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEST=.cache/pywb
WARCS="$DEST/warcs"
if [ ! -f "$WARCS/iana.warc.gz" ]; then
    mkdir -p "$DEST"
    "$PY" -m pip download --quiet --no-deps --dest "$DEST" pywb==2.10.0 >&2
    "$PY" - "$DEST" <<'PYEOF'
import pathlib, sys, zipfile
dest = pathlib.Path(sys.argv[1])
wheel = next(dest.glob("pywb-2.10.0-*.whl"))
out = dest / "warcs"
out.mkdir(exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if "/sample_archive/warcs/" in name and not name.endswith("/"):
            (out / name.rsplit("/", 1)[1]).write_bytes(z.read(name))
PYEOF
fi
echo "$PWD/$WARCS"
