"""HuggingFaceLoader: a fake hub (API JSON + Parquet files with range requests) served by a
local HTTP server, datasets made by the `datasets` package (save_to_disk, to_parquet), and
the Hugging Face cache layout."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf


def table(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "idx": pa.array(range(start, start + n), pa.int64()),
            "text": [f"document number {i} " + "word " * (i % 50) for i in range(start, start + n)],
            "label": [i % 3 for i in range(start, start + n)],
        }
    )


def hf_config(dataset: str, out: Path, **params) -> dict:
    return {
        "data_loader": {
            "type": "HuggingFaceLoader",
            "params": {"dataset_name": dataset, "split": "train", "streaming": True, **params},
        },
        "stages": [{"name": "main", "operators": []}],
        "data_writer": {"type": "ParquetDataWriter", "params": {"output_path": str(out)}},
        "executor": {"batch_size": 128},
    }


def read_output(out: Path, columns=("idx", "text", "label")) -> pa.Table:
    got = pq.read_table(sorted(out.glob("part-*.parquet")))
    return got.select([c for c in columns if c in got.column_names]).sort_by("idx")


class FakeHub:
    """Serves `files` (repo path → bytes) like the hub: the Parquet-conversion API, the tree
    API and `resolve/` downloads with HTTP range support. Records every request."""

    def __init__(self, files: dict[str, bytes], parquet_api: dict[str, list[str]]):
        self.files = files
        self.parquet_api = parquet_api
        self.requests: list[tuple[str, str, str | None]] = []
        self.redirects: dict[str, str] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.serve(head=True)

            def do_GET(self):
                self.serve(head=False)

            def send(self, code, body=b"", ctype="application/json", extra=None, head=False):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def serve(self, head):
                path = self.path
                hub.requests.append((self.command, path, self.headers.get("Range")))
                if path in hub.redirects:
                    return self.send(302, extra={"Location": hub.redirects[path]}, head=head)
                m = re.fullmatch(r"/api/datasets/(.+?)/parquet/(.+)", path)
                if m:
                    key = f"{m.group(1)}/{m.group(2)}"
                    if key in hub.parquet_api:
                        body = json.dumps(hub.parquet_api[key]).encode()
                        return self.send(200, body, head=head)
                    return self.send(404, b'{"error": "not found"}', head=head)
                m = re.fullmatch(r"/api/datasets/(org/ds)/tree/([^/]+)(?:/(.*))?", path)
                if m:
                    prefix = m.group(3) or ""
                    entries = {}
                    for name in hub.files:
                        if prefix and not name.startswith(prefix + "/"):
                            continue
                        rest = name[len(prefix) + 1 :] if prefix else name
                        head_part = rest.split("/")[0]
                        full = f"{prefix}/{head_part}" if prefix else head_part
                        kind = "directory" if "/" in rest else "file"
                        entries[full] = {"type": kind, "path": full}
                    body = json.dumps(list(entries.values())).encode()
                    return self.send(200, body, head=head)
                m = re.fullmatch(r"/datasets/org/ds/resolve/([^/]+)/(.+)", path)
                if m and m.group(2) in hub.files:
                    data = hub.files[m.group(2)]
                    rng = self.headers.get("Range")
                    if rng:
                        a, b = rng.removeprefix("bytes=").split("-")
                        a = int(a)
                        b = min(int(b) if b else len(data) - 1, len(data) - 1)
                        extra = {"Content-Range": f"bytes {a}-{b}/{len(data)}"}
                        return self.send(206, data[a : b + 1], "application/octet-stream", extra)
                    return self.send(200, data, "application/octet-stream", head=head)
                return self.send(404, b'{"error": "Repository not found"}', head=head)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def parquet_bytes(t: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(t, sink, row_group_size=100)
    return sink.getvalue().to_pybytes()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    train = [table(300, 0), table(200, 300)]
    files = {
        "README.md": b"# ds",
        "data/train-00000-of-00002.parquet": parquet_bytes(train[0]),
        "data/train-00001-of-00002.parquet": parquet_bytes(train[1]),
        "data/test-00000-of-00001.parquet": parquet_bytes(table(50, 1000)),
    }
    fake = FakeHub(files, {})
    rev = "refs%2Fconvert%2Fparquet"
    fake.files["default/train/0000.parquet"] = files["data/train-00000-of-00002.parquet"]
    fake.files["default/train/0001.parquet"] = files["data/train-00001-of-00002.parquet"]
    # Like the real hub, the API's file URLs redirect to `resolve/` downloads.
    fake.parquet_api["org/ds/default/train"] = []
    for i in range(2):
        api_path = f"/api/datasets/org/ds/parquet/default/train/{i}.parquet"
        fake.redirects[api_path] = f"/datasets/org/ds/resolve/{rev}/default/train/000{i}.parquet"
        fake.parquet_api["org/ds/default/train"].append(fake.url + api_path)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    yield fake
    fake.server.shutdown()


def test_hub_parquet_conversion_is_streamed_with_range_reads(hub, tmp_path):
    stats = mdf.run(hf_config("org/ds", tmp_path / "out"), progress="off")
    assert stats["input_records"] == 500 and stats["shards_total"] == 2
    want = pa.concat_tables([table(300, 0), table(200, 300)])
    assert read_output(tmp_path / "out") == want
    data_gets = [r for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]]
    assert data_gets and all(r[2] for r in data_gets), "data files are only read by range"
    assert any(r[1].endswith("/train/0.parquet") for r in hub.requests), "redirects followed"
    assert any(r[1].startswith("/api/datasets/org/ds/parquet/default/train") for r in hub.requests)


def test_hub_tree_listing_with_revision_split_and_columns(hub, tmp_path):
    cfg = hf_config("org/ds", tmp_path / "out", revision="v1", split="test", columns=["idx"])
    stats = mdf.run(cfg, progress="off")
    assert stats["input_records"] == 50
    got = read_output(tmp_path / "out")
    assert got.column_names == ["idx"] and got.column("idx").to_pylist() == list(range(1000, 1050))
    assert any("/tree/v1" in r[1] for r in hub.requests)

    cfg = hf_config(
        "org/ds", tmp_path / "out2", data_files=["data/train-00001-*.parquet"], revision="v1"
    )
    assert mdf.run(cfg, progress="off")["input_records"] == 200


def test_unknown_dataset_is_one_config_error_before_work(hub, tmp_path):
    with pytest.raises(mdf.ConfigError, match=r"dataset `org/missing`.*not found"):
        mdf.validate(hf_config("org/missing", tmp_path / "out"))
    with pytest.raises(mdf.ConfigError, match=r"split `validation`"):
        mdf.validate(hf_config("org/ds", tmp_path / "out", split="validation", revision="v1"))
    assert not (tmp_path / "out").exists()


def test_unreachable_hub_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(mdf.ConfigError, match="cannot be reached"):
        mdf.validate(hf_config("org/nothing-here", tmp_path / "out"))


def test_hub_cache_snapshot_is_read_offline(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    repo = cache / "datasets--org--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    snap = repo / "snapshots" / "0123abcd" / "data"
    snap.mkdir(parents=True)
    pq.write_table(table(40), snap / "train-00000-of-00001.parquet")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: offline
    mdf.run(hf_config("org/cached", tmp_path / "out"), progress="off")
    assert read_output(tmp_path / "out") == table(40)


def test_datasets_save_to_disk_and_to_parquet(tmp_path):
    datasets = pytest.importorskip("datasets")
    train = datasets.Dataset.from_dict(table(1500).to_pydict())
    test = datasets.Dataset.from_dict(table(70, 5000).to_pydict())

    train.save_to_disk(str(tmp_path / "saved"))
    mdf.run(hf_config(str(tmp_path / "saved"), tmp_path / "o1"), progress="off")
    assert read_output(tmp_path / "o1") == table(1500)

    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dict"))
    cfg = hf_config(str(tmp_path / "dict"), tmp_path / "o2", split="test", columns=["idx", "text"])
    mdf.run(cfg, progress="off")
    assert read_output(tmp_path / "o2") == table(70, 5000).select(["idx", "text"])

    (tmp_path / "pq" / "data").mkdir(parents=True)
    train.to_parquet(str(tmp_path / "pq" / "data" / "train-00000-of-00001.parquet"))
    test.to_parquet(str(tmp_path / "pq" / "data" / "test-00000-of-00001.parquet"))
    mdf.run(hf_config(str(tmp_path / "pq"), tmp_path / "o3"), progress="off")
    assert read_output(tmp_path / "o3") == table(1500)
    stats = mdf.run(hf_config(str(tmp_path / "pq"), tmp_path / "o4", split="test"), progress="off")
    assert stats["input_records"] == 70
