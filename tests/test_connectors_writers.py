"""Writers read back: JSONL and Parquet round trips, WebDataset tars read with `tarfile`, and a
real Iceberg table read with pyiceberg (schema, rows, snapshots, resume without duplicates)."""

from __future__ import annotations

import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import config, docs, write_jsonl


def rows_of(table: pa.Table) -> list[dict]:
    return sorted(table.select(["id", "url", "text"]).to_pylist(), key=lambda r: r["id"])


@pytest.mark.parametrize("writer", ["ParquetDataWriter", "JsonlDataWriter"])
def test_written_then_read_back_equal(tmp_path, writer):
    records = docs(700)
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    mdf.run(config(tmp_path / "in", tmp_path / "out", operators=[], writer=writer), progress="off")
    loader = "ParquetLoader" if writer == "ParquetDataWriter" else "JsonlLoader"
    cfg = config(tmp_path / "out", tmp_path / "back", operators=[], loader=loader)
    assert mdf.run(cfg, progress="off")["output_records"] == 700
    back = pq.read_table(sorted((tmp_path / "back").glob("part-*.parquet")))
    assert rows_of(back) == sorted(records, key=lambda r: r["id"])


def image_table(n: int) -> pa.Table:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    jpg = b"\xff\xd8\xff\xe0" + bytes(300)
    images = [{"bytes": png if i % 2 else jpg, "path": f"img{i}"} for i in range(n)]
    return pa.table(
        {
            "id": [f"k{i:04d}" for i in range(n)],
            "image": pa.array(images, pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            "caption": [f"a photo of thing {i}" for i in range(n)],
            "width": list(range(n)),
        }
    )


def test_webdataset_tars_read_back_with_tarfile(tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(image_table(250), tmp_path / "in" / "images.parquet")
    cfg = config(tmp_path / "in", tmp_path / "wds", operators=[], loader="ParquetLoader")
    cfg["data_writer"] = {
        "type": "WebDatasetWriter",
        "params": {"output_path": str(tmp_path / "wds"), "max_samples_per_shard": 100},
    }
    mdf.run(cfg, progress="off")
    tars = sorted((tmp_path / "wds").glob("part-*.tar"))
    assert [t.name for t in tars] == [f"part-000000-{i:04d}.tar" for i in range(3)]
    samples: dict[str, dict[str, bytes]] = {}
    for t in tars:
        with tarfile.open(t) as tf:
            for m in tf.getmembers():
                key, ext = m.name.split(".", 1)
                samples.setdefault(key, {})[ext] = tf.extractfile(m).read()
    assert len(samples) == 250
    want = image_table(250).to_pylist()
    for row in want:
        s = samples[row["id"]]
        ext = "png" if row["image"]["bytes"].startswith(b"\x89PNG") else "jpg"
        assert s[ext] == row["image"]["bytes"]
        assert s["txt"].decode() == row["caption"]
        meta = json.loads(s["json"])
        assert meta["width"] == row["width"] and meta["id"] == row["id"]


def iceberg_config(tmp_path, src, mode="append"):
    cfg = config(src, tmp_path / "unused", operators=[])
    cfg["data_writer"] = {
        "type": "IcebergDataWriter",
        "params": {
            "table_path": str(tmp_path / "lake"),
            "table_name": "docs",
            "namespace": "web",
            "mode": mode,
        },
    }
    return cfg


def test_iceberg_table_round_trip_resume_and_overwrite(tmp_path):
    pytest.importorskip("pyiceberg")
    from mega_data_factory.iceberg import catalog_for

    for f in range(3):
        write_jsonl(tmp_path / "in" / f"p{f}.jsonl.gz", docs(200, start=f * 200))
    stats = mdf.run(iceberg_config(tmp_path, tmp_path / "in"), progress="off")
    assert stats["iceberg"]["added_files"] == 3

    params = {"table_path": str(tmp_path / "lake"), "catalog_name": "mdf"}
    table = catalog_for(params).load_table("web.docs")
    assert {"id", "url", "text", "_source_file", "_source_offset"} <= {
        f.name for f in table.schema().fields
    }
    back = table.scan().to_arrow()
    assert rows_of(back) == sorted(docs(600), key=lambda r: r["id"])
    assert len(table.history()) == 1

    # Rerun (resumed: every shard done): nothing is committed twice.
    again = mdf.run(iceberg_config(tmp_path, tmp_path / "in"), progress="off")
    assert again["shards_resumed"] == 3 and again["iceberg"]["added_files"] == 0
    table = catalog_for(params).load_table("web.docs")
    assert table.scan().to_arrow().num_rows == 600 and len(table.history()) == 1

    # Another pipeline appending to the same table (a new run: --overwrite replaces the engine
    # state only; the committed files belong to the table and stay).
    write_jsonl(tmp_path / "in2" / "q.jsonl", docs(50, start=5000))
    mdf.run(iceberg_config(tmp_path, tmp_path / "in2"), progress="off", overwrite=True)
    table = catalog_for(params).load_table("web.docs")
    assert table.scan().to_arrow().num_rows == 650
    assert len(table.history()) == 2

    # overwrite mode: the table holds exactly this run's rows.
    cfg = iceberg_config(tmp_path, tmp_path / "in2", mode="overwrite")
    mdf.run(cfg, progress="off", overwrite=True)
    table = catalog_for(params).load_table("web.docs")
    assert rows_of(table.scan().to_arrow()) == sorted(docs(50, start=5000), key=lambda r: r["id"])
    assert len(table.history()) >= 3
