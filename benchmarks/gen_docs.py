"""Generates deterministic JSONL documents that look like web text (for the quickstart sample
and the benchmarks): ids, urls, paragraphs of words with a realistic length spread (a few very
short pages, most a few hundred to a few thousand characters, some CJK).

    python benchmarks/gen_docs.py --docs 1000000 --files 1 --out benchmarks/data/docs.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

WORDS = (
    "the of and to in is was for on that with as by at from his her this which be are an or "
    "had not but were their have one all new they has its more about after first two also who "
    "data model training web page text language city river school music team season film "
    "government history university research system water energy market health children light "
    "world people between during under county family national village station church museum "
    "species river valley mountain island coast bridge railway company album song player game"
).split()
CJK = "数据模型训练网页文本语言城市河流学校音乐队伍季节电影政府历史大学研究系统能源市场健康"
DOMAINS = ["example.org", "news.example.com", "wiki.example.net", "blog.example.io", "shop.example"]


def make_doc(rng: random.Random, i: int) -> dict:
    kind = rng.random()
    if kind < 0.05:
        text = " ".join(rng.choices(WORDS, k=rng.randint(1, 8)))
    elif kind < 0.10:
        text = "".join(rng.choices(CJK, k=rng.randint(50, 800)))
    else:
        paragraphs = []
        for _ in range(rng.randint(1, 8)):
            words = rng.choices(WORDS, k=rng.randint(20, 120))
            paragraphs.append(" ".join(words).capitalize() + ".")
        text = "\n\n".join(paragraphs)
    domain = rng.choice(DOMAINS)
    return {
        "id": f"doc-{i:08d}",
        "url": f"https://{domain}/page/{i}",
        "text": text,
        "dump": "CC-MAIN-2024-51",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, required=True)
    ap.add_argument("--files", type=int, default=1)
    ap.add_argument("--out", required=True, help="file name; with --files > 1, -NNNN is inserted")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    per_file = -(-args.docs // args.files)
    i = 0
    for f in range(args.files):
        path = (
            out
            if args.files == 1
            else out.with_name(out.name.replace(".jsonl", f"-{f:04d}.jsonl", 1))
        )
        # mtime=0 keeps the sample byte-identical across regenerations.
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            for _ in range(min(per_file, args.docs - i)):
                gz.write(json.dumps(make_doc(rng, i), ensure_ascii=False).encode() + b"\n")
                i += 1
    print(f"wrote {i} docs to {args.files} file(s) at {out.parent}")


if __name__ == "__main__":
    main()
