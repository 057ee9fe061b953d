"""The Ray runner on a real two-node Ray cluster on this machine: output byte-identical to the
local runner's (dedup phases included), a worker killed mid-run, a GPU "model" stage served by a
replica pool, a driver killed and restarted.

The cluster (a head with 1 CPU, a second node with 1 CPU, 2 simulated GPUs and a `node2`
resource) is started once for the module by `ray start --block` in its own process group, with
its own temp dir, and that process group is stopped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import mega_data_factory as mdf
from conftest import RAY_ENV, REPO, config, docs, output_files, rejects_of, stats_of, write_jsonl

ray = pytest.importorskip("ray")

RAY_CLI = [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_node(args: list[str], temp_dir: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(REPO / "tests")}
    return subprocess.Popen(
        [*RAY_CLI, "start", "--block", "--disable-usage-stats", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        cwd=temp_dir,
    )


def _stop(proc: subprocess.Popen) -> None:
    # Only the process groups this module started.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            # `ray start --block` has stopped its node; kill what it left in the group.
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def cluster():
    temp_dir = tempfile.mkdtemp(prefix="mdfray-", dir="/tmp")  # Ray's socket paths must be short
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start_node(
        [
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=1",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--temp-dir={temp_dir}",
        ],
        temp_dir,
        Path(temp_dir) / "head.log",
    )
    nodes = [head]
    try:
        deadline = time.time() + 120
        while True:
            try:
                ray.init(address=address, log_to_driver=False)
                break
            except Exception:
                if time.time() > deadline or head.poll() is not None:
                    raise RuntimeError((Path(temp_dir) / "head.log").read_text()) from None
                time.sleep(1)
        nodes.append(
            _start_node(
                [
                    f"--address={address}",
                    "--node-ip-address=127.0.0.1",
                    "--num-cpus=1",
                    "--num-gpus=2",
                    '--resources={"node2": 1}',
                ],
                temp_dir,
                Path(temp_dir) / "node2.log",
            )
        )
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            if time.time() > deadline:
                raise RuntimeError((Path(temp_dir) / "node2.log").read_text())
            time.sleep(0.5)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for proc in reversed(nodes):
            _stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _inputs(tmp_path: Path, files: int = 8, per_file: int = 150) -> Path:
    for f in range(files):
        records = docs(per_file, start=f * per_file)
        lines = [json.dumps(r) for r in records]
        if f == 3:
            lines.insert(5, "{not json")  # a loader reject: rejects must match too
        write_jsonl(tmp_path / "in" / f"{f:02d}.jsonl", lines)
    return tmp_path / "in"


def _write(tmp_path: Path, name: str, cfg: dict) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


def _rejects_bytes(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "_mdf" / "rejects").glob("*"))}


def _same_run(a: Path, b: Path) -> None:
    assert output_files(a) and output_files(a) == output_files(b)
    assert _rejects_bytes(a) == _rejects_bytes(b)
    sa, sb = stats_of(a), stats_of(b)
    for key in ("input_records", "output_records", "rejected_records", "input_rejects"):
        assert sa[key] == sb[key], key
    assert sa.get("histograms") == sb.get("histograms")  # absent without a text column

    def per_operator(stats: dict) -> list:
        return [
            (o["stage"], o["name"], o["in"], o["out"], o["dropped"], o.get("histograms"))
            for o in stats["operators"]
        ]

    assert per_operator(sa) == per_operator(sb)
    # The report's samples (stage pools included) are the same records.
    samples = "_mdf/samples.json"
    assert (a / samples).read_bytes() == (b / samples).read_bytes()


TEXT_OPS = [
    {"name": "text_length_filter", "params": {"min_length": 30}},
    {"name": "word_count"},
]


def test_text_pipeline_identical_to_local(cluster, tmp_path):
    src = _inputs(tmp_path)
    common = {"imports": ["user_ops.my_filters"], "executor": {"batch_size": 40}}
    local = config(src, tmp_path / "local", operators=TEXT_OPS, **common)
    mdf.run(local, workers=2, progress="off")
    on_ray = config(src, tmp_path / "ray", operators=TEXT_OPS, **common)
    stats = mdf.run(on_ray, executor="ray", address=cluster, progress="off")
    assert stats["executor"] == "ray" and stats["shards_total"] == 8
    _same_run(tmp_path / "local", tmp_path / "ray")
    assert len(rejects_of(tmp_path / "ray")) == 1
    # The driver keeps `_mdf/progress.json` as the local runner does, per stage.
    progress = json.loads((tmp_path / "ray" / "_mdf" / "progress.json").read_text())
    local_progress = json.loads((tmp_path / "local" / "_mdf" / "progress.json").read_text())
    assert progress["state"] == "done" and progress["shards_done"] == 8
    for key in ("records_in", "records_out", "shards_total"):
        assert progress[key] == local_progress[key], key
    assert [(s["name"], s["records_in"], s["records_out"]) for s in progress["stages"]] == [
        (s["name"], s["records_in"], s["records_out"]) for s in local_progress["stages"]
    ]
    # Rerunning resumes everything: no shard is redone.
    again = mdf.run(on_ray, executor="ray", address=cluster, progress="off")
    assert again["shards_resumed"] == 8
    _same_run(tmp_path / "local", tmp_path / "ray")


def test_worker_killed_mid_run_is_retried(cluster, tmp_path):
    src = _inputs(tmp_path)
    marker = tmp_path / "killed.marker"
    ops = [
        {"name": "kill_worker_once", "params": {"marker": str(marker), "trigger_id": "d000500"}},
        *TEXT_OPS,
    ]
    common = {
        "imports": ["user_ops.my_filters", "user_ops.ray_ops"],
        "executor": {"batch_size": 40},
    }
    ref_marker = tmp_path / "ref.marker"
    ref_marker.write_text("the reference run must not kill itself")
    ref_ops = [{**ops[0], "params": {**ops[0]["params"], "marker": str(ref_marker)}}, *TEXT_OPS]
    mdf.run(config(src, tmp_path / "local", operators=ref_ops, **common), progress="off")
    mdf.run(
        config(src, tmp_path / "ray", operators=ops, **common),
        executor="ray",
        address=cluster,
        progress="off",
    )
    assert marker.exists(), "the operator did not kill its worker"
    _same_run(tmp_path / "local", tmp_path / "ray")
    ids = [
        r
        for f in sorted((tmp_path / "ray").glob("part-*"))
        for r in pq.read_table(f).column("id").to_pylist()
    ]
    assert len(ids) == len(set(ids)), "a record was written twice"


def test_model_stage_runs_in_a_replica_pool(cluster, tmp_path):
    src = _inputs(tmp_path, files=6)
    logs = {"local": tmp_path / "log-local", "ray": tmp_path / "log-ray"}

    def cfg(name: str) -> dict:
        c = config(src, tmp_path / name, operators=TEXT_OPS, imports=[], executor={})
        c["imports"] = ["user_ops.my_filters", "user_ops.ray_ops"]
        c["executor"] = {"batch_size": 30}
        c["stages"].append(
            {
                "name": "model",
                "operators": [{"name": "fake_model", "params": {"log_dir": str(logs[name])}}],
                "worker": {"min_replicas": 1, "max_replicas": 2, "resources": {"cpu": 0, "gpu": 1}},
            }
        )
        return c

    mdf.run(cfg("local"), workers=2, progress="off")
    stats = mdf.run(cfg("ray"), executor="ray", address=cluster, workers=4, progress="off")
    _same_run(tmp_path / "local", tmp_path / "ray")

    loads = [json.loads(p.read_text()) for p in logs["ray"].glob("load-*.json")]
    in_actors = [x["actor"] for x in loads if x["actor"]]
    # The driver builds each operator once to validate the config; every other load is a replica,
    # and each replica loads the model exactly once.
    assert len(loads) == len(in_actors) + 1
    assert len(set(in_actors)) == len(in_actors)
    pool = stats["stage_pools"]["model"]
    assert 1 <= len(in_actors) <= 2
    # A replica started by a scale-up may still be loading when the run ends (then killed).
    assert len(in_actors) <= pool["replicas_started"] <= 2
    assert 1 <= pool["replicas_peak"] <= 2
    # Every model batch ran in a replica (none in the shard tasks).
    callers = [line for p in logs["ray"].glob("calls-*.txt") for line in p.read_text().splitlines()]
    assert callers and set(callers) <= set(in_actors)
    model_stats = [o for o in stats_of(tmp_path / "ray")["operators"] if o["stage"] == "model"]
    assert model_stats[0]["in"] == stats["output_records"]


def _near_duplicates(tmp_path: Path) -> Path:
    """Documents of 60 words: exact copies and copies with one word changed, across shards."""
    base = [" ".join(f"t{(i * 31 + k * 7) % 211}w{k}" for k in range(60)) for i in range(40)]
    for f in range(6):
        records = []
        for r in range(50):
            n = f * 50 + r
            text = base[n % 40]
            if n % 3 == 1:  # a near duplicate: one word differs
                words = text.split()
                words[n % 60] = f"changed{n}"
                text = " ".join(words)
            records.append({"id": f"d{n:04d}", "text": text})
        write_jsonl(tmp_path / "in" / f"{f:02d}.jsonl", [json.dumps(r) for r in records])
    return tmp_path / "in"


def test_embedding_dedup_fit_and_route_phases_identical_to_local(cluster, tmp_path):
    """embedding_deduplicator adds a fit task and a route task per shard between the keys and
    the group phase; on Ray they give the local runner's files and stats."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(3)
    src = tmp_path / "in"
    src.mkdir()
    base = rng.standard_normal((30, 16)).astype(np.float32)
    for f in range(3):
        # Every file repeats the 30 base vectors with a little noise: near copies across shards.
        emb = base + 0.01 * rng.standard_normal(base.shape).astype(np.float32)
        table = pa.table(
            {
                "id": [f"f{f}-{i:02d}" for i in range(len(emb))],
                "emb": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), 16),
            }
        )
        pq.write_table(table, src / f"{f}.parquet")
    ops = [
        {
            "name": "embedding_deduplicator",
            "params": {"embedding_field": "emb", "num_clusters": 4, "sample_size": 40},
        }
    ]
    kw = {"operators": ops, "loader": "ParquetLoader"}
    mdf.run(config(src, tmp_path / "local", **kw), workers=2, progress="off")
    stats = mdf.run(
        config(src, tmp_path / "ray", **kw), executor="ray", address=cluster, progress="off"
    )
    _same_run(tmp_path / "local", tmp_path / "ray")
    assert {"dedup fit 0", "dedup route 0", "dedup group 0"} <= set(stats["phase_seconds"])
    ids = [i for f in sorted((tmp_path / "ray").glob("part-*")) for i in pq.read_table(f)["id"]]
    assert [str(i) for i in ids] == [f"f0-{i:02d}" for i in range(30)]


def test_dedup_phases_identical_to_local(cluster, tmp_path):
    """Exact then MinHash dedup: segment, group and merge phases as Ray tasks with a barrier
    between them; the kept ids, the files and the stats equal the local runner's."""
    src = _near_duplicates(tmp_path)
    ops = [
        {"name": "text_length_filter", "params": {"min_length": 30}},
        {"name": "text_exact_deduplicator"},
        {"name": "minhash_deduplicator"},
    ]
    common = {"executor": {"batch_size": 40}}
    mdf.run(config(src, tmp_path / "local", operators=ops, **common), workers=2, progress="off")
    stats = mdf.run(
        config(src, tmp_path / "ray", operators=ops, **common),
        executor="ray",
        address=cluster,
        progress="off",
    )
    _same_run(tmp_path / "local", tmp_path / "ray")

    def kept(run_dir: Path) -> list[str]:
        return [
            i
            for f in sorted(run_dir.glob("part-*"))
            for i in pq.read_table(f).column("id").to_pylist()
        ]

    assert kept(tmp_path / "ray") == kept(tmp_path / "local")
    assert 0 < stats["output_records"] < 40  # exact copies and near duplicates are gone
    dropped = {o["name"]: sum(o["dropped"].values()) for o in stats["operators"]}
    assert dropped["text_exact_deduplicator"] > 0 and dropped["minhash_deduplicator"] > 0
    assert {"dedup group 0", "dedup group 1", "dedup merge 1"} <= set(stats["phase_seconds"])
    # The bulky dedup state (keys, staged rows) is cleaned up as by the local runner.
    global_dir = tmp_path / "ray" / "_mdf" / "global"
    assert not list(global_dir.glob("*/keys")) and not list(global_dir.glob("*/staged"))
    again = mdf.run(
        config(src, tmp_path / "ray", operators=ops, **common),
        executor="ray",
        address=cluster,
        progress="off",
    )
    assert again["shards_resumed"] == 6
    assert kept(tmp_path / "ray") == kept(tmp_path / "local")


def _driver(cfg: Path, address: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    cmd = [sys.executable, "-m", "mega_data_factory.cli", "run", "-c", str(cfg)]
    cmd += ["--executor", "ray", "--address", address, "--progress", "off"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_driver_restart_resumes(cluster, tmp_path):
    src = _inputs(tmp_path, files=10, per_file=100)
    ops = [{"name": "sleep_pass", "params": {"seconds": 0.3}}, *TEXT_OPS]
    common = {
        "imports": ["user_ops.my_filters", "user_ops.ray_ops"],
        "executor": {"batch_size": 50},
    }
    mdf.run(config(src, tmp_path / "local", operators=ops, **common), workers=2, progress="off")
    cfg = _write(tmp_path, "ray", config(src, tmp_path / "ray", operators=ops, **common))
    done_dir = tmp_path / "ray" / "_mdf" / "done"

    def markers() -> int:
        return sum(1 for p in done_dir.glob("*") if not p.name.startswith("."))

    proc = _driver(cfg, cluster)
    deadline = time.time() + 300
    while time.time() < deadline and markers() < 2 and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = markers()
    assert 0 < done < 10, f"kill landed at {done} shards: not mid-run"

    resumed = _driver(cfg, cluster)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err.decode()
    _same_run(tmp_path / "local", tmp_path / "ray")
    assert stats_of(tmp_path / "ray")["shards_resumed"] >= done


def test_bad_address_is_a_config_error_with_its_line(tmp_path):
    src = _inputs(tmp_path, files=1, per_file=10)
    cfg = tmp_path / "pipe.yaml"
    cfg.write_text(
        f"data_loader:\n  type: JsonlLoader\n  params:\n    paths: {src}\n"
        "stages:\n  - name: s\n    operators:\n      - name: text_length_filter\n"
        f"data_writer:\n  type: ParquetDataWriter\n  params:\n    output_path: {tmp_path / 'o'}\n"
        "executor:\n  type: ray\n  address: head-node\n"
    )
    with pytest.raises(mdf.ConfigError, match=r"pipe.yaml:15:.*not a Ray address"):
        mdf.run(cfg, progress="off")
    with pytest.raises(mdf.ConfigError, match="not a Ray address"):
        mdf.run(cfg, address="nohost", progress="off")


def test_bloom_dedup_scan_runs_as_one_ray_task_identical_to_local(cluster, tmp_path):
    """The sequential scan of `bloom_deduplicator` is one group task: through Ray the output and
    the stats equal the local runner's."""
    src = _near_duplicates(tmp_path)
    ops = [{"name": "bloom_deduplicator"}]
    common = {"executor": {"batch_size": 40}}
    mdf.run(config(src, tmp_path / "local", operators=ops, **common), workers=2, progress="off")
    stats = mdf.run(
        config(src, tmp_path / "ray", operators=ops, **common),
        executor="ray",
        address=cluster,
        progress="off",
    )
    _same_run(tmp_path / "local", tmp_path / "ray")
    assert "dedup group 0" in stats["phase_seconds"]
    assert sum(stats["operators"][0]["dropped"].values()) > 0


def test_stage_pool_lost_before_it_ran_is_started_again(cluster, tmp_path, monkeypatch):
    """A pool actor whose process dies before it runs is replaced (up to `attempts` pools) and the
    run gives the local output; past that the run fails with an error naming the stage."""
    from mega_data_factory import ray_runner
    from user_ops.ray_ops import PoolDyingBeforeItRuns

    monkeypatch.setattr(ray_runner, "_StagePool", PoolDyingBeforeItRuns)
    src = _inputs(tmp_path, files=2)

    def cfg(name: str) -> dict:
        c = config(src, tmp_path / name, operators=TEXT_OPS, imports=[], executor={})
        c["imports"] = ["user_ops.my_filters", "user_ops.ray_ops"]
        c["stages"].append(
            {
                "name": "model",
                "operators": [
                    {"name": "fake_model", "params": {"log_dir": str(tmp_path / f"log-{name}")}}
                ],
                "worker": {"num_replicas": 1, "resources": {"cpu": 0, "gpu": 1}},
            }
        )
        return c

    deaths = tmp_path / "pool_deaths_left"  # beside the run directories
    mdf.run(cfg("local"), progress="off")
    deaths.write_text("2")
    mdf.run(cfg("ray"), executor="ray", address=cluster, progress="off")
    assert deaths.read_text() == "0"
    _same_run(tmp_path / "local", tmp_path / "ray")

    deaths.write_text("3")
    with pytest.raises(mdf.InternalError, match=r"stage `model`: .*pool actor died 3 times"):
        mdf.run(cfg("ray-lost"), executor="ray", address=cluster, progress="off")
