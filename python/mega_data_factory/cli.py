"""The ``mdf`` command line."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from typing import Any

from . import _native, api

EPILOG = """examples:
  mdf run -c configs/quickstart.yaml
  mdf run -c pipeline.yaml --workers 8 --max-samples 10000 --set executor.batch_size=5000
  mdf validate -c pipeline.yaml
  mdf ops list
  mdf ops describe text_length_filter
  mdf stats output/quickstart          # the quality funnel of a run, as a table
  mdf report output/quickstart         # (re)build output/quickstart/report.html
  mdf extract page.html --url https://example.com/a
  mdf train-head --task aigc --positive generated/ --negative real/
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mdf",
        description="Mega Data Factory: run data pipelines for foundation-model pretraining.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-V", "--version", action="version", version=f"mdf {_native.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def config_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-c", "--config", required=True, help="pipeline YAML file")
        sp.add_argument("--max-samples", type=int, help="exact cap on input records")
        sp.add_argument("--batch-size", type=int, help="records per batch")
        sp.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value by dotted path, e.g. "
            "stages.0.operators.0.params.min_length=100 (repeatable)",
        )

    run = sub.add_parser(
        "run",
        help="run a pipeline (resumes an existing run directory)",
        description="Run a pipeline on the local executor. Output goes to the writer's "
        "output_path; engine state, stats.json and rejects/ go to <output_path>/_mdf/. "
        "Rerunning resumes: completed shards are skipped.",
    )
    config_args(run)
    run.add_argument("--workers", type=int, help="worker threads (default: all cores)")
    run.add_argument(
        "--overwrite", action="store_true", help="discard an existing run and start over"
    )
    run.add_argument(
        "--progress",
        choices=["auto", "log", "off"],
        default="auto",
        help="progress bar on a terminal (auto), log lines, or nothing",
    )
    run.add_argument("--json", action="store_true", help="print the run stats as JSON on stdout")
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="run on this machine (local) or on a Ray cluster (ray); default: executor.type",
    )
    run.add_argument(
        "--address",
        help="Ray cluster address (auto, host:port, ray://host:port, local); see docs/ray.md",
    )

    val = sub.add_parser("validate", help="check a config without running it")
    config_args(val)

    ops = sub.add_parser("ops", help="list or describe operators, loaders and writers")
    ops_sub = ops.add_subparsers(dest="ops_command", metavar="ACTION")
    ops_sub.add_parser("list", help="every component by its config name")
    desc = ops_sub.add_parser("describe", help="a component's params with defaults and docs")
    desc.add_argument("name")

    st = sub.add_parser("stats", help="print a run's quality funnel as a table")
    st.add_argument("run_dir", help="the run directory (the writer's output_path)")
    st.add_argument("--json", action="store_true", help="print stats.json instead")

    rep = sub.add_parser(
        "report",
        help="build a run's HTML report (report.html in the run directory)",
        description="Build the self-contained HTML report of a run from its _mdf/stats.json "
        "and _mdf/samples.json: funnel, data flow, operators, score histograms, throughput, "
        "samples of removed records.",
    )
    rep.add_argument("run_dir", help="the run directory (the writer's output_path)")
    rep.add_argument("-o", "--output", help="where to write (default: RUN_DIR/report.html)")
    dp = sub.add_parser(
        "dedup-plan", help="S-curve and memory/disk per phase of a dedup, for a corpus size"
    )
    dp.add_argument("--docs", type=int, required=True, help="documents in the corpus")
    dp.add_argument("--method", choices=["exact", "url", "minhash", "bloom"], default="minhash")
    dp.add_argument("--bands", type=int, default=14, help="MinHash num_buckets")
    dp.add_argument("--rows", type=int, default=8, help="MinHash hashes_per_bucket")
    dp.add_argument("--partitions", type=int, default=64, help="num_partitions")
    dp.add_argument("--shards", type=int, default=1000)
    dp.add_argument("--workers", type=int, default=1)
    dp.add_argument("--doc-bytes", type=int, default=5000, help="average document size")
    dp.add_argument(
        "--memory-mb", type=int, default=1024, help="executor.dedup_memory_mb (group task budget)"
    )
    dp.add_argument("--dup-fraction", type=float, default=0.2, help="share of duplicates")
    dp.add_argument("--fp-rate", type=float, default=0.01, help="bloom: false-positive rate")
    dp.add_argument("--ngrams-per-doc", type=int, default=800, help="bloom: n-grams per document")
    dp.add_argument(
        "--jaccard-threshold", type=float, help="minhash: verify candidate pairs (set files)"
    )
    dp.add_argument(
        "--shingles-per-doc",
        type=int,
        help="minhash with --jaccard-threshold: distinct shingles per document (default: "
        "doc-bytes / 6)",
    )
    ext = sub.add_parser(
        "extract",
        help="print the main text html_extractor gets from one HTML file",
        description="Extract one page with the html_extractor operator's rules: the fastest "
        "way to see why a page came out wrong. FILE may be gzipped (.gz) or - for stdin.",
    )
    ext.add_argument("file", metavar="FILE.html")
    ext.add_argument("--url", help="the page URL (its domain helps charset detection)")
    ext.add_argument(
        "--content-type", help="HTTP Content-Type header, e.g. 'text/html; charset=gbk'"
    )
    ext.add_argument("--favor-precision", action="store_true", help="trafilatura's favor_precision")
    ext.add_argument("--include-comments", action="store_true", help="append the comment section")
    ext.add_argument("--no-tables", action="store_true", help="leave tables out")
    ext.add_argument("--json", action="store_true", help="print text and metadata as JSON")
    th = sub.add_parser(
        "train-head",
        help="fit a classifier head on image embeddings from labelled image folders",
        description="Embed labelled images with an mdf embedding operator, fit a linear (or "
        "MLP) head with a seeded held-out split, and save model.safetensors + head.json for "
        "image_aigc_detector_refiner / image_watermark_refiner / image_nsfw_refiner. See "
        "docs/models.md.",
    )
    th.add_argument(
        "--task",
        choices=["aigc", "watermark", "nsfw"],
        help="what the head detects: sets the labels, the default embedder and the default "
        "output ($MDF_HOME/heads/image_<task>..., where the operator looks)",
    )
    th.add_argument("--positive", nargs="+", metavar="DIR", help="folders of positive images")
    th.add_argument("--negative", nargs="+", metavar="DIR", help="folders of negative images")
    th.add_argument("--data", metavar="DIR", help="a folder with one subfolder per class")
    th.add_argument(
        "--embeddings",
        metavar="FILE.parquet",
        help="train on precomputed embeddings instead (needs --embedding-field, --label-column)",
    )
    th.add_argument("--label-column", default="label", help="label column of --embeddings")
    th.add_argument("--positive-label", help="the class whose probability the head outputs")
    th.add_argument(
        "--embedder",
        help="embedding operator (default: image_siglip_embedding_refiner for aigc, else "
        "image_clip_embedding_refiner with ViT-L-14/openai)",
    )
    th.add_argument(
        "--embedder-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a param of the embedding operator (VALUE is JSON or a string; repeatable)",
    )
    th.add_argument("--embedding-field", help="the embedding column (default: detected)")
    th.add_argument(
        "--hidden", default="", help="hidden layer widths, e.g. 512,128 (default: linear probe)"
    )
    th.add_argument("--dropout", type=float, default=0.0)
    th.add_argument("--l2", type=float, help="L2 penalty (default: chosen on a validation split)")
    th.add_argument("--max-iter", type=int, default=500, help="L-BFGS iterations")
    th.add_argument("--holdout", type=float, default=0.2, help="held-out fraction per class")
    th.add_argument("--seed", type=int, default=0)
    th.add_argument("--workers", type=int, help="worker threads for embedding")
    th.add_argument("-o", "--output", help="output directory (default: from --task)")
    th.add_argument("--json", action="store_true", help="print head.json")
    return p


def _train_head(args: argparse.Namespace) -> None:
    from .models import train_head as th

    params = {}
    for item in args.embedder_param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _native.ConfigError(f"--embedder-param wants KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    try:
        hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
        result = th.train_head(
            args.output,
            task=args.task,
            classes=th.classes_from_args(args.positive, args.negative, args.data),
            embeddings=args.embeddings,
            label_column=args.label_column,
            positive_label=args.positive_label,
            embedder=args.embedder,
            embedder_params=params,
            embedding_field=args.embedding_field,
            hidden_dims=hidden,
            dropout=args.dropout,
            max_iter=args.max_iter,
            l2=args.l2,
            holdout=args.holdout,
            seed=args.seed,
            workers=args.workers,
        )
    except th.TrainHeadError as e:
        raise _native.ConfigError(str(e)) from None
    print(th.summary(result), file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))


def _extract(args: argparse.Namespace) -> None:
    if args.file == "-":
        body = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as f:
                body = f.read()
        except OSError as e:
            raise _native.ConfigError(f"cannot read {args.file}: {e}") from None
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    out = api.extract_html(
        body,
        url=args.url,
        content_type=args.content_type,
        favor_precision=args.favor_precision,
        include_comments=args.include_comments,
        include_tables=not args.no_tables,
    )
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(out["text"])


def _print_summary(stats: dict[str, Any]) -> None:
    err = sys.stderr
    n_in, n_out = stats["input_records"], stats["output_records"]
    removed = n_in - n_out
    pct = 100.0 * removed / n_in if n_in else 0.0
    wall = stats.get("wall_seconds", 0.0) or 0.0
    rate = n_in / wall if wall else 0.0
    print(
        f"Done: {n_in} input, {n_out} output (removed {removed}, {pct:.1f}%) "
        f"in {wall:.2f}s wall ({rate:,.0f} records/s) with {stats['workers']} workers; "
        f"{stats['shards_total']} shards ({stats['shards_resumed']} resumed)",
        file=err,
    )
    if stats.get("rejected_records"):
        print(
            f"Rejected: {stats['rejected_records']} (see {stats['run_dir']}/_mdf/rejects/)",
            file=err,
        )
    rows = [("stage", "operator", "in", "out", "pass%", "dropped", "errors", "cpu s", "rec/s")]
    for op in stats["operators"]:
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(op["dropped"].items())) or "-"
        pass_pct = 100.0 * op["out"] / op["in"] if op["in"] else 100.0
        rps = op["in"] / op["seconds"] if op["seconds"] else 0.0
        rows.append(
            (
                op["stage"],
                op["name"],
                str(op["in"]),
                str(op["out"]),
                f"{pass_pct:.1f}",
                dropped,
                str(op["errors"]),
                f"{op['seconds']:.3f}",
                f"{rps:,.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), file=err)
    print(f"Stats: {stats['run_dir']}/_mdf/stats.json", file=err)
    if stats.get("report"):
        print(f"Report: {stats['report']}", file=err)
    if "iceberg" in stats:
        ice = stats["iceberg"]
        print(
            f"Iceberg: {ice['added_files']} new data file(s) committed to {ice['table']} "
            f"(snapshot {ice['snapshot_id']})",
            file=err,
        )


def _describe(name: str) -> None:
    info = api.describe(name)
    print(f"{info['name']} ({info['kind']})")
    print(f"  {info['summary']}")
    schema = info.get("params_schema") or {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    if not props:
        print(
            "\nparams: none declared"
            if info["kind"] not in ("filter", "refiner") or "description" not in schema
            else f"\nparams: {schema['description']}"
        )
        return
    print("\nparams:")
    for key, spec in props.items():
        kind = spec.get("type") or spec.get("anyOf") or spec.get("oneOf") or spec.get("$ref", "")
        if isinstance(kind, list):
            kind = " | ".join(
                k.get("type", k.get("$ref", "?")) if isinstance(k, dict) else str(k) for k in kind
            )
        default = "required" if key in required else f"default: {json.dumps(spec.get('default'))}"
        print(f"  {key}  ({kind}; {default})")
        for line in (spec.get("description") or "").splitlines():
            print(f"      {line}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            stats = api.run(
                args.config,
                max_samples=args.max_samples,
                batch_size=args.batch_size,
                workers=args.workers,
                overwrite=args.overwrite,
                progress=args.progress,
                set=args.set,
                executor=args.executor,
                address=args.address,
            )
            _print_summary(stats)
            if args.json:
                print(json.dumps(stats, indent=2))
        elif args.command == "validate":
            out = api.validate(
                args.config,
                max_samples=args.max_samples,
                batch_size=args.batch_size,
                set=args.set,
            )
            cfg = out["config"]
            ops = [
                f"{s['name']}/{o['name']}"
                for s in cfg["stages"]
                for o in s["operators"]
                if o["enabled"]
            ]
            print(
                f"{args.config}: OK — {cfg['data_loader']['type']} ({out['shards']} shards) -> "
                f"{' -> '.join(ops) or '(no operators)'} -> {cfg['data_writer']['type']}"
            )
        elif args.command == "extract":
            _extract(args)
        elif args.command == "train-head":
            _train_head(args)
        elif args.command == "ops":
            if args.ops_command == "list":
                rows = api.list_components()
                width = max(len(r["name"]) for r in rows)
                for r in rows:
                    print(f"{r['name'].ljust(width)}  {r['kind']:<8}  {r['summary']}")
            elif args.ops_command == "describe":
                _describe(args.name)
            else:
                parser.parse_args(["ops", "--help"])
        elif args.command == "stats":
            from .report import funnel_table, load_run

            data = load_run(args.run_dir)
            if args.json:
                print(json.dumps(data.stats, indent=2))
            else:
                print(funnel_table(data.stats))
        elif args.command == "report":
            from .report import build_report

            print(build_report(args.run_dir, args.output))
        elif args.command == "dedup-plan" and args.method == "bloom":
            from .dedup_plan import bloom_plan

            print(
                "\n".join(
                    bloom_plan(
                        args.docs,
                        args.ngrams_per_doc,
                        args.fp_rate,
                        max(args.shards, 1),
                        args.doc_bytes,
                    )
                )
            )
        elif args.command == "dedup-plan":
            from .dedup_plan import plan

            lines = plan(
                args.docs,
                args.method,
                args.bands,
                args.rows,
                max(args.partitions, 1),
                max(args.shards, 1),
                max(args.workers, 1),
                args.doc_bytes,
                args.dup_fraction,
                args.jaccard_threshold,
                args.shingles_per_doc,
                memory_mb=max(args.memory_mb, 1),
            )
            print("\n".join(lines))
        else:
            parser.print_help()
        return 0
    except KeyboardInterrupt:
        print("Interrupted by user; rerun the same command to resume.", file=sys.stderr)
        return 1
    except _native.MdfBaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
