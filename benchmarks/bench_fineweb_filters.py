"""The FineWeb filter chain, mdf against datatrove on the same extracted documents.

Chain (FineWeb v1 stage A after extraction, spec text-recipes.md §1.1):
URL filter -> language ID (lid.176, en > 0.65) -> Gopher repetition -> Gopher quality
-> C4 quality (filter_no_terminal_punct=False; rewrites text) -> FineWeb quality.

Documents: the 181 real main texts of shared/data/article-extraction, mixed into N documents
(paragraphs shuffled and recombined with a fixed seed, a few documents made repetitive, list-like
or short so that every rule fires), with URLs of which some hit the blocklist or banned words.
Both tools read the same JSONL and write JSONL; each runs in its own process with 1 worker; the
script prints wall time, docs per CPU-second, the ratio and both tools' kept counts.

    bash scripts/test.sh   # or: MDF_LID176_MODEL=path/to/lid.176.ftz
    python benchmarks/bench_fineweb_filters.py --docs 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from pathlib import Path

from bench_length_filter import measure

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GROUND_TRUTH = REPO.parent / "shared" / "data" / "article-extraction" / "ground-truth.json"
BLOCKED = [f"blocked{i}.example" for i in range(50)]

DATATROVE = r"""
import sys, json
from pathlib import Path
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.pipeline import filters as F
from datatrove.pipeline.filters import url_filter as url_mod
from tldextract import TLDExtract
from fasttext.FastText import _FastText

data, out, blocklist, model = sys.argv[1:5]
assets = Path(url_mod.ASSETS_PATH)
url = F.URLFilter(
    use_integrated_lists=False,
    extra_domains=open(blocklist).read().split(),
    banned_words=open(assets / "banned_words.txt").readlines(),
    soft_banned_words=open(assets / "soft_banned_words.txt").readlines(),
    banned_subwords=open(assets / "banned_subwords.txt").readlines(),
)
url.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)
lid = F.LanguageFilter(languages=["en"], language_threshold=0.65)
lid.model._model = _FastText(model)  # offline: the model datatrove would download
pipeline = [
    JsonlReader(data, glob_pattern="*.jsonl", text_key="text", id_key="id"),
    url, lid,
    F.GopherRepetitionFilter(), F.GopherQualityFilter(),
    F.C4QualityFilter(filter_no_terminal_punct=False), F.FineWebQualityFilter(),
    JsonlWriter(out, compression=None),
]
# The blocks are chained as datatrove's executor chains them, without its deep copy of the
# pipeline (the fastText model set above cannot be pickled).
stream = None
for step in pipeline:
    stream = step(stream, rank=0, world_size=1)
for _ in stream or ():
    pass
"""


def make_docs(n: int, seed: int = 0) -> list[dict]:
    texts = [v["articleBody"] for v in json.loads(GROUND_TRUTH.read_text()).values()]
    paragraphs = [p for t in texts for p in t.split("\n") if p.strip()]
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.55:
            text = texts[i % len(texts)]
        elif kind < 0.85:
            text = "\n".join(rng.sample(paragraphs, rng.randint(3, 25)))
        elif kind < 0.90:
            text = "\n".join([rng.choice(paragraphs)] * rng.randint(3, 10))  # repetitive
        elif kind < 0.95:
            text = "\n".join(f"- {rng.choice(paragraphs)[:40]}" for _ in range(20))  # list-like
        else:
            text = rng.choice(paragraphs)[:200]  # short
        host = rng.choice(BLOCKED) if rng.random() < 0.03 else f"site{rng.randint(0, 999)}.org"
        path = rng.choice(["news/article", "blog/post", "porn-videos", "casino/free", "about"])
        docs.append({"id": f"doc{i:07d}", "url": f"https://{host}/{path}/{i}", "text": text})
    return docs


def mdf_config(data: Path, out: Path, blocklist: Path, model: str) -> Path:
    ops = [
        {"name": "url_filter", "params": {"mode": "fineweb", "blocklist_paths": [str(blocklist)]}},
        {
            "name": "language_filter",
            "params": {"model_path": model, "languages": ["en"], "language_threshold": 0.65},
        },
        {"name": "gopher_repetition_filter"},
        {"name": "gopher_quality_filter"},
        {"name": "c4_quality_filter", "params": {"filter_no_terminal_punct": False}},
        {"name": "fineweb_quality_filter"},
    ]
    cfg = {
        "data_loader": {"type": "JsonlLoader", "params": {"paths": str(data / "*.jsonl")}},
        "stages": [{"name": "fineweb", "operators": ops}],
        "data_writer": {"type": "JsonlDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 1000, "num_workers": 1},
    }
    path = out.parent / f"{out.name}.json"
    path.write_text(json.dumps(cfg))
    return path


def count_lines(paths) -> int:
    return sum(sum(1 for _ in open(p, "rb")) for p in paths)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--work", type=Path, default=HERE / "data" / "fineweb_chain")
    args = ap.parse_args()
    model = os.environ.get("MDF_LID176_MODEL", str(REPO / ".cache" / "models" / "lid.176.ftz"))
    if not Path(model).is_file():
        sys.exit(
            f"lid.176.ftz not found at {model}: run scripts/test.sh once or set MDF_LID176_MODEL"
        )
    if not GROUND_TRUTH.is_file():
        sys.exit(f"real texts not found at {GROUND_TRUTH}")
    shutil.rmtree(args.work, ignore_errors=True)
    data = args.work / "input"
    data.mkdir(parents=True)
    with open(data / "docs.jsonl", "w") as f:
        for d in make_docs(args.docs):
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    blocklist = args.work / "blocklist.txt"
    blocklist.write_text("\n".join(BLOCKED) + "\n")

    out_mdf = args.work / "mdf"
    cfg = mdf_config(data, out_mdf, blocklist, model)
    mdf_bin = shutil.which("mdf") or "mdf"
    ours = measure([mdf_bin, "run", "-c", str(cfg), "--overwrite", "--progress", "off"])
    stats = json.loads((out_mdf / "_mdf" / "stats.json").read_text())
    ours["kept"] = stats["output_records"]

    out_dt = args.work / "datatrove"
    theirs = measure(
        [sys.executable, "-c", DATATROVE, str(data), str(out_dt), str(blocklist), model]
    )
    theirs["kept"] = count_lines(out_dt.glob("*.jsonl"))

    cores = os.cpu_count()
    print(f"\nFineWeb filter chain on {args.docs:,} documents, 1 worker each; {cores} cores\n")
    print(f"{'tool':<12}{'wall s':>9}{'CPU s':>9}{'docs/CPU-s':>13}{'kept':>9}{'peak RSS MiB':>14}")
    for name, m in (("mdf", ours), ("datatrove", theirs)):
        print(
            f"{name:<12}{m['wall']:>9.2f}{m['cpu']:>9.2f}{args.docs / m['cpu']:>13,.0f}"
            f"{m['kept']:>9}{m['rss_mib']:>14.0f}"
        )
    print(f"\nmdf vs datatrove per core (docs per CPU-second): {theirs['cpu'] / ours['cpu']:.1f}x")
    print("per-operator compute time in mdf (summed over the run):")
    for op in stats["operators"]:
        print(f"  {op['name']:<26}{op['seconds']:>8.3f} s  in {op['in']:>7}  out {op['out']:>7}")


if __name__ == "__main__":
    main()
