"""Python operators for the Ray runner tests: one that kills its own worker process once, a
slow pass-through, a "model" that records where and how often it is loaded, and a stage pool
actor that dies before it runs."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mega_data_factory import BatchRefiner, Filter, OperatorRegistry
from mega_data_factory.ray_runner import _StagePool


class KillWorkerOnce(Filter):
    """Keeps everything; on the batch holding `trigger_id`, SIGKILLs its own process the first
    time (the marker file `marker` records that it happened)."""

    def __init__(self, marker: str = "", trigger_id: str = "", **kwargs):
        super().__init__(**kwargs)
        self.marker = Path(marker)
        self.trigger_id = trigger_id

    def should_keep_batch(self, records):
        if any(r["id"] == self.trigger_id for r in records):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return [True] * len(records)


class SleepPass(Filter):
    """Keeps everything after sleeping `seconds` per batch."""

    def __init__(self, seconds: float = 0.05, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds

    def should_keep_batch(self, records):
        time.sleep(self.seconds)
        return [True] * len(records)


def _actor_id() -> str | None:
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_actor_id()


class FakeModel(BatchRefiner):
    """Adds `model_score` (a deterministic function of the text) after a slow "load". Each load
    writes `load-*.json` into `log_dir` (pid, Ray actor id); each batch appends the actor id to
    `calls-<pid>.txt`. Drops nothing."""

    def __init__(self, log_dir: str = "", seconds_per_batch: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.log_dir = Path(log_dir)
        self.seconds_per_batch = seconds_per_batch
        self.actor = _actor_id()
        time.sleep(0.2)  # "loading weights"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        info = {"pid": os.getpid(), "actor": self.actor}
        (self.log_dir / f"load-{uuid.uuid4().hex}.json").write_text(json.dumps(info))

    def refine_arrow(self, batch):
        time.sleep(self.seconds_per_batch)
        with open(self.log_dir / f"calls-{os.getpid()}.txt", "a") as f:
            f.write(f"{self.actor}\n")
        score = pc.multiply(pc.cast(pc.utf8_length(batch.column("text")), pa.float64()), 0.5)
        return batch.append_column("model_score", score)

    def get_output_schema(self):
        return {"model_score": pa.float64()}


OperatorRegistry.register("kill_worker_once", KillWorkerOnce)
OperatorRegistry.register("sleep_pass", SleepPass)
OperatorRegistry.register("fake_model", FakeModel)


class PoolDyingBeforeItRuns(_StagePool):
    """A stage pool actor whose process dies in its constructor while the file `pool_deaths_left`
    beside the run directory holds a count above zero: a pool actor lost before it ran."""

    def __init__(self, ctx, stage, options, lo, hi, *args, **kwargs):
        counter = Path(ctx["run_dir"]).parent / "pool_deaths_left"
        left = int(counter.read_text())
        if left > 0:
            counter.write_text(str(left - 1))
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(ctx, stage, options, lo, hi, *args, **kwargs)
