"""Object stores: the same pipeline against a local S3 server (moto in server mode) and against
local disk gives the same output; an interrupted upload leaves no visible object; a missing
bucket or bad credentials fail before any work."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import config, docs, output_files, write_jsonl

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_moto(env_extra: dict | None = None):
    port = _free_port()
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server; the engine finds it through AWS_ENDPOINT_URL like any S3 client."""
    proc, endpoint = _start_moto()
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
    )
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    try:
        yield client
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=10)


_AWS_ENV = [
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
]


def upload_dir(client, local_dir, bucket: str, prefix: str) -> None:
    for path in sorted(local_dir.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(local_dir).as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def objects(client, bucket: str, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix) + 1 :]] = body
    return out


def test_s3_pipeline_gives_the_local_output_and_resumes(s3, tmp_path):
    s3.create_bucket(Bucket="corpus")
    local_in = tmp_path / "in"
    for f in range(3):
        write_jsonl(local_in / f"part{f}.jsonl.gz", docs(300, start=f * 300))
    write_jsonl(local_in / "plain.jsonl", docs(2000, start=5000))
    upload_dir(s3, local_in, "corpus", "raw")

    def run(src, out):
        cfg = config(src, out)
        cfg["data_loader"]["params"]["shard_size_mb"] = 0.05  # byte-range shards over S3 too
        return mdf.run(cfg, workers=2, progress="off")

    local = run(local_in, tmp_path / "out")
    remote = run("s3://corpus/raw/", "s3://corpus/runs/one")
    assert remote["output_records"] == local["output_records"] > 0
    assert remote["shards_total"] == local["shards_total"] > 4

    want = output_files(tmp_path / "out")
    got = objects(s3, "corpus", "runs/one")
    data = {k: v for k, v in got.items() if k.startswith("part-")}
    assert sorted(data) == sorted(want), "same file names on S3 as on disk"
    for name, local_bytes in want.items():
        # Same rows and columns; only the provenance path differs (a URL instead of a path).
        remote_table = pq.read_table(io.BytesIO(data[name]))
        local_table = pq.read_table(io.BytesIO(local_bytes))
        assert remote_table.drop_columns(["_source_file"]) == local_table.drop_columns(
            ["_source_file"]
        ), name
        assert remote_table.column("_source_file")[0].as_py().startswith("s3://corpus/raw/")
    assert "_mdf/manifest.json" in got and "_mdf/stats.json" in got
    assert sum(k.startswith("_mdf/done/") for k in got) == remote["shards_total"]
    stats = json.loads(got["_mdf/stats.json"])
    assert stats["output_records"] == local["output_records"]
    table = pq.read_table(io.BytesIO(data[min(data)]))
    assert "text" in table.column_names

    again = run("s3://corpus/raw/", "s3://corpus/runs/one")
    assert again["shards_resumed"] == again["shards_total"]
    assert again["output_records"] == local["output_records"]

    # A glob over S3 keys, and JSONL written back to S3 then read again: same records.
    cfg = config("s3://corpus/runs/one/part-*.parquet", "s3://corpus/runs/jsonl")
    cfg["data_loader"]["type"] = "ParquetLoader"
    cfg["data_writer"]["type"] = "JsonlDataWriter"
    assert mdf.run(cfg, progress="off")["output_records"] == local["output_records"]


def test_ray_runner_writes_the_same_run_directory_to_s3(s3, tmp_path):
    pytest.importorskip("ray")
    s3.create_bucket(Bucket="rayrun")
    local_in = tmp_path / "in"
    for f in range(3):
        write_jsonl(local_in / f"part{f}.jsonl", docs(200, start=f * 200))
    upload_dir(s3, local_in, "rayrun", "raw")
    ops = [
        {"name": "text_length_filter", "params": {"min_length": 50}},
        {"name": "word_count"},
    ]
    imports = {"imports": ["user_ops.my_filters"]}
    local = mdf.run(config(local_in, tmp_path / "out", operators=ops, **imports), progress="off")
    # Ray workers (started by this run) inherit the S3 settings from the environment.
    on_ray = mdf.run(
        config("s3://rayrun/raw/", "s3://rayrun/runs/ray", operators=ops, **imports),
        executor="ray",
        progress="off",
    )
    assert on_ray["executor"] == "ray"
    assert on_ray["output_records"] == local["output_records"] > 0
    got = objects(s3, "rayrun", "runs/ray")
    _same_parquet_parts(got, tmp_path / "out")
    assert json.loads(got["_mdf/stats.json"])["output_records"] == local["output_records"]
    assert sum(k.startswith("_mdf/done/") for k in got) == on_ray["shards_total"] == 3

    # Dedup state lives in the run directory too: its phases run as Ray tasks that share
    # nothing but the bucket, and keep the local run's records.
    dedup = [
        {"name": "text_exact_deduplicator"},
        {"name": "minhash_deduplicator", "params": {"num_partitions": 2}},
    ]
    local = mdf.run(config(local_in, tmp_path / "dedup", operators=dedup), progress="off")
    on_ray = mdf.run(
        config("s3://rayrun/raw/", "s3://rayrun/runs/dedup", operators=dedup),
        executor="ray",
        progress="off",
    )
    assert on_ray["output_records"] == local["output_records"] < 600
    assert [o["dropped"] for o in on_ray["operators"]] == [o["dropped"] for o in local["operators"]]
    got = objects(s3, "rayrun", "runs/dedup")
    _same_parquet_parts(got, tmp_path / "dedup")
    assert any(k.startswith("_mdf/global/g01/done/group-") for k in got)


def _same_parquet_parts(got: dict[str, bytes], local_dir: Path) -> None:
    """The Parquet parts among `got` (objects by key) hold the local run's records."""
    data = {k: v for k, v in got.items() if k.startswith("part-")}
    want = output_files(local_dir)
    assert sorted(data) == sorted(want)
    for name, local_bytes in want.items():
        remote_table = pq.read_table(io.BytesIO(data[name])).drop_columns(["_source_file"])
        assert remote_table == pq.read_table(io.BytesIO(local_bytes)).drop_columns(
            ["_source_file"]
        ), name


def test_interrupted_upload_leaves_no_visible_object(s3, tmp_path, monkeypatch):
    s3.create_bucket(Bucket="big")
    # ~14 MB of poorly compressible text: the Parquet file spans several 5 MiB parts.
    rows = [{"id": str(i), "text": os.urandom(700).hex()} for i in range(10_000)]
    write_jsonl(tmp_path / "in" / "big.jsonl.gz", rows)
    upload_dir(s3, tmp_path / "in", "big", "in")
    monkeypatch.setenv("MDF_UPLOAD_PART_MB", "5")
    monkeypatch.setenv("MDF_TEST_FAIL_UPLOAD_AFTER_PARTS", "1")
    cfg = config("s3://big/in/", "s3://big/out", operators=[])
    cfg["data_writer"]["params"]["compression"] = "none"
    with pytest.raises(mdf.StorageError, match="upload interrupted"):
        mdf.run(cfg, progress="off")
    listed = objects(s3, "big", "out")
    assert not [k for k in listed if not k.startswith("_mdf/")], listed
    assert not [k for k in listed if k.startswith("_mdf/done/")]
    assert not s3.list_multipart_uploads(Bucket="big").get("Uploads"), "uploads were aborted"

    monkeypatch.delenv("MDF_TEST_FAIL_UPLOAD_AFTER_PARTS")
    stats = mdf.run(cfg, progress="off")
    assert stats["output_records"] == 10_000
    data = {k: v for k, v in objects(s3, "big", "out").items() if k.startswith("part-")}
    assert len(data) == 1 and len(next(iter(data.values()))) > 10 << 20
    assert pq.read_table(io.BytesIO(next(iter(data.values())))).num_rows == 10_000


def test_missing_bucket_is_a_config_error_before_work(s3, tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", docs(10))
    with pytest.raises(mdf.ConfigError, match=r"cannot access `s3://no-such-bucket/out`"):
        mdf.run(config(tmp_path / "in", "s3://no-such-bucket/out"), progress="off")
    with pytest.raises(mdf.ConfigError, match=r"cannot access `s3://no-such-bucket-2/in/`"):
        mdf.validate(config("s3://no-such-bucket-2/in/", tmp_path / "out"))
    s3.create_bucket(Bucket="empty")
    with pytest.raises(mdf.ConfigError, match="matches nothing"):
        mdf.validate(config("s3://empty/in/", tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_bad_credentials_are_a_config_error_before_work(tmp_path, monkeypatch):
    # A second server that enforces IAM after the three set-up calls below.
    proc, endpoint = _start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        kw = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        iam = boto3.client("iam", aws_access_key_id="a", aws_secret_access_key="b", **kw)
        iam.create_user(UserName="u")
        iam.put_user_policy(
            UserName="u",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="u")["AccessKey"]
        good = boto3.client(
            "s3",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            **kw,
        )
        good.create_bucket(Bucket="locked")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        write_jsonl(tmp_path / "in" / "a.jsonl", docs(10))
        with pytest.raises(
            mdf.ConfigError,
            match=r"(?s)cannot access `s3://locked/out`.*SignatureDoesNotMatch.*AWS_SECRET_ACCESS_KEY",
        ):
            mdf.validate(config(tmp_path / "in", "s3://locked/out"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
