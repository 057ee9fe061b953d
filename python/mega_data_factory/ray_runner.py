"""The Ray runner: the same config on a Ray cluster, with the local runner's output.

The driver plans the run and prepares the run directory (``_native.prepare``: the same code the
local runner uses), then runs the plan's phases in order, with a barrier between them: a plan
without global operators has one phase (one task per shard); a dedup step adds a segment phase
(one task per shard: map operators, then the keys), for embedding dedup a fit phase (one task:
k-means) and a route phase (one task per shard), a group phase (one task per partition) and,
for MinHash, a merge phase (one task). Each phase's pending tasks are Ray tasks, each running
the local runner's task function (``_native.ShardRunner.run_task``: read, operators, write,
commit, done marker) with the GIL released, so both runners write byte-identical run
directories. Ray schedules the tasks, retries a task whose worker died (``max_retries``) and one
that failed on retryable I/O; a task whose done marker exists is never run again, so a retried
or resumed run neither loses nor duplicates records. At the end the driver cleans up the dedup
state and merges the shards' stats into ``_mdf/stats.json`` and ``_mdf/samples.json``
(``_native.finalize``).

Stages whose ``worker`` block asks for a GPU or sets ``min_replicas``/``max_replicas``/
``num_replicas`` run as *stage pools*: long-lived Ray actors that build the stage's operators
once (a model loads once per replica) and serve batches to the shard tasks. A pool starts
``min_replicas`` replicas, dispatches each batch to the least-loaded ready replica, adds
replicas up to ``max_replicas`` while all are busy, and retires idle ones down to the minimum.
The shard task sends a batch and waits for the result, so batches stay in shard order and the
output equals the local runner's; pipeline parallelism comes from the shard tasks in flight
(CPU stages of one shard run while a replica serves another), and the driver bounds how many
are in flight (backpressure).

Workers need the run directory, the input and the ``imports:`` modules at the same paths as the
driver (shared storage): each task changes to the driver's working directory and puts the
driver's ``sys.path`` entries on its own path before it imports them.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time
from collections import deque
from typing import Any

from . import _native
from .registry import OperatorRegistry


class ShardRetry(Exception):
    """A shard task hit a retryable error (storage I/O, a stage replica lost): Ray retries it."""


class ShardFailed(Exception):
    """A shard task failed for good; carries the engine's error class name and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message


# ---------------------------------------------------------------------------------------------
# Worker side (Ray tasks and actors)

_RUNNERS: dict[tuple[str, str], Any] = {}


def _setup_worker(ctx: dict[str, Any]) -> dict[str, tuple[str, str, Any]]:
    """Makes a worker process look like the driver: working directory, sys.path, the config's
    modules. Returns the Python operators to hand to the engine."""
    if os.getcwd() != ctx["cwd"]:
        os.chdir(ctx["cwd"])
    for path in ctx["sys_path"]:
        if path not in sys.path:
            sys.path.append(path)
    for module in ctx["imports"]:
        importlib.import_module(module)
    return OperatorRegistry._native_specs()


class _PoolClient:
    """Called by the engine (from inside a shard task) with a batch of a pooled stage: sends it
    to the least-loaded replica of the stage's pool and returns what the replica made of it."""

    def __init__(self, pools: dict[str, Any]) -> None:
        self.pools = pools

    def __call__(self, stage: str, batch, shard: int, positions: list[int]):
        import ray

        pool = self.pools[stage]
        last: Exception | None = None
        for _ in range(3):
            rid, replica = ray.get(pool.acquire.remote())
            try:
                return ray.get(replica.process.remote(batch, shard, positions))
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as e:
                last = e
                pool.replica_failed.remote(rid)
            finally:
                pool.release.remote(rid)
        raise RuntimeError(f"stage pool `{stage}`: replicas keep failing: {last}")


def _runner_for(ctx: dict[str, Any]):
    key = (ctx["run_dir"], ctx["fingerprint"])
    runner = _RUNNERS.get(key)
    if runner is None:
        specs = _setup_worker(ctx)
        remote = _PoolClient(ctx["pools"]) if ctx["pools"] else None
        runner = _native.ShardRunner(ctx["run_dir"], specs, list(ctx["pools"]), remote)
        _RUNNERS.clear()  # one run at a time per worker process
        _RUNNERS[key] = runner
    return runner


def _run_task(ctx: dict[str, Any], phase: dict[str, Any], task: int) -> str:
    """The Ray task: one task of a phase (a shard's segment, a dedup partition, a dedup merge),
    through the local runner's task function."""
    what = f"{phase['label']} task {task}"
    try:
        return _runner_for(ctx).run_task(
            phase["kind"], phase["k"], task, phase["is_last"], ctx["attempts"]
        )
    except _native.StorageError as e:
        raise ShardRetry(f"{what}: {e}") from None
    except _native.MdfBaseError as e:
        raise ShardFailed(type(e).__name__, f"{what}: {e}") from None


class _Replica:
    """A stage-pool replica: the stage's operators, built once."""

    def __init__(self, ctx: dict[str, Any], stage: str) -> None:
        specs = _setup_worker(ctx)
        self.worker = _native.StageWorker(ctx["run_dir"], stage, specs)

    def ready(self) -> int:
        return os.getpid()

    def process(self, batch, shard: int, positions: list[int]):
        return self.worker.process(batch, shard, positions)


class _StagePool:
    """Replicas of one stage with load-based dispatch and autoscaling between min and max.

    An async actor: ``acquire`` waits (without blocking other calls) until a ready replica has
    room, starting a new replica while every ready one is busy and fewer than ``max`` exist.
    """

    def __init__(
        self,
        ctx: dict[str, Any],
        stage: str,
        options: dict[str, Any],
        min_replicas: int,
        max_replicas: int,
        per_replica: int = 2,
        idle_seconds: float = 30.0,
    ) -> None:
        self.ctx, self.stage, self.options = ctx, stage, options
        self.min, self.max = min_replicas, max_replicas
        self.per_replica, self.idle_seconds = per_replica, idle_seconds
        self.replicas: dict[int, dict[str, Any]] = {}
        self.next_id = 0
        self.started = 0
        self.peak = 0
        self.changed: asyncio.Condition | None = None
        self.errors: list[str] = []
        self.replica_class = None

    async def _cond(self) -> asyncio.Condition:
        if self.changed is None:
            self.changed = asyncio.Condition()
            for _ in range(self.min):
                self._start()
            asyncio.get_running_loop().create_task(self._retire_idle())
        return self.changed

    def _start(self) -> None:
        import ray

        rid = self.next_id
        self.next_id += 1
        if self.replica_class is None:
            self.replica_class = ray.remote(_Replica)
        handle = self.replica_class.options(**self.options).remote(self.ctx, self.stage)
        self.replicas[rid] = {"handle": handle, "ready": False, "load": 0, "idle": time.time()}
        self.started += 1
        self.peak = max(self.peak, len(self.replicas))
        asyncio.get_running_loop().create_task(self._await_ready(rid, handle))

    async def _await_ready(self, rid: int, handle) -> None:
        try:
            await handle.ready.remote()
            if rid in self.replicas:
                self.replicas[rid]["ready"] = True
        except Exception as e:  # the replica could not start (bad operator, node lost)
            self.errors.append(f"{type(e).__name__}: {e}")
            self.replicas.pop(rid, None)
        cond = await self._cond()
        async with cond:
            cond.notify_all()

    async def _retire_idle(self) -> None:
        import ray

        while True:
            await asyncio.sleep(min(self.idle_seconds, 5.0))
            now = time.time()
            for rid, r in list(self.replicas.items()):
                if len(self.replicas) <= self.min:
                    break
                if r["ready"] and r["load"] == 0 and now - r["idle"] > self.idle_seconds:
                    self.replicas.pop(rid)
                    ray.kill(r["handle"])

    async def wait_ready(self, timeout: float) -> int:
        """Waits until ``min_replicas`` replicas are up; a clear error when they cannot be."""
        cond = await self._cond()
        deadline = time.time() + timeout
        async with cond:
            while sum(r["ready"] for r in self.replicas.values()) < self.min:
                if self.errors:
                    raise RuntimeError(
                        f"stage `{self.stage}`: replicas fail to start: {self.errors[-1]}"
                    )
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError(
                        f"stage `{self.stage}`: {self.min} replica(s) (min_replicas) asking for "
                        f"{self._asks()} each did not start within {timeout:.0f}s; the cluster "
                        "lacks those resources, or lower min_replicas"
                    )
                try:
                    await asyncio.wait_for(cond.wait(), timeout=min(left, 1.0))
                except asyncio.TimeoutError:
                    pass
        return self.min

    def _asks(self) -> str:
        o = self.options
        parts = [f"cpu={o.get('num_cpus', 1)}"]
        if o.get("num_gpus"):
            parts.append(f"gpu={o['num_gpus']}")
        if o.get("memory"):
            parts.append(f"memory={o['memory']}")
        return ", ".join(parts)

    async def acquire(self):
        cond = await self._cond()
        async with cond:
            while True:
                ready = [(r["load"], rid) for rid, r in self.replicas.items() if r["ready"]]
                if ready:
                    load, rid = min(ready)
                    if load < self.per_replica:
                        r = self.replicas[rid]
                        r["load"] += 1
                        busy = all(x[0] + (x[1] == rid) > 0 for x in ready)
                        starting = any(not x["ready"] for x in self.replicas.values())
                        if busy and not starting and len(self.replicas) < self.max:
                            self._start()
                        return rid, r["handle"]
                starting = any(not x["ready"] for x in self.replicas.values())
                if not starting and len(self.replicas) < self.max:
                    self._start()
                if not self.replicas and self.errors:
                    raise RuntimeError(f"stage `{self.stage}`: no replica: {self.errors[-1]}")
                await cond.wait()

    async def release(self, rid: int) -> None:
        cond = await self._cond()
        async with cond:
            r = self.replicas.get(rid)
            if r is not None:
                r["load"] = max(0, r["load"] - 1)
                r["idle"] = time.time()
            cond.notify_all()

    async def replica_failed(self, rid: int) -> None:
        cond = await self._cond()
        async with cond:
            self.replicas.pop(rid, None)
            while len(self.replicas) < self.min:
                self._start()
            cond.notify_all()

    async def info(self) -> dict[str, Any]:
        return {
            "min_replicas": self.min,
            "max_replicas": self.max,
            "replicas_started": self.started,
            "replicas_peak": self.peak,
            "replicas_now": len(self.replicas),
        }


# ---------------------------------------------------------------------------------------------
# Driver side


def _is_pooled(stage: dict[str, Any]) -> bool:
    w = stage.get("worker") or {}
    res = w.get("resources") or {}
    replicas = (w.get("min_replicas"), w.get("max_replicas"), w.get("num_replicas"))
    has_ops = any(o.get("enabled", True) for o in stage.get("operators", []))
    return has_ops and (bool(res.get("gpu")) or any(r is not None for r in replicas))


def _replica_range(stage: dict[str, Any]) -> tuple[int, int]:
    w = stage.get("worker") or {}
    lo = w.get("num_replicas") or w.get("min_replicas") or 1
    hi = w.get("num_replicas") or w.get("max_replicas") or lo
    return int(lo), int(hi)


def _ray_options(resources: dict[str, Any], default_cpu: float) -> dict[str, Any]:
    cpu = resources.get("cpu")
    opts: dict[str, Any] = {"num_cpus": default_cpu if cpu is None else cpu}
    if resources.get("gpu"):
        opts["num_gpus"] = resources["gpu"]
    if resources.get("memory"):
        opts["memory"] = resources["memory"]
    return opts


def _note(mode: str, text: str) -> None:
    if mode != "off":
        print(f"[mdf] ray: {text}", file=sys.stderr, flush=True)


def run(
    text: str,
    name: str,
    overrides: list[str],
    *,
    overwrite: bool = False,
    progress: str = "auto",
    max_in_flight: int | None = None,
    attempts: int = 3,
    ready_timeout: float = 120.0,
) -> dict[str, Any]:
    """Runs a config on Ray (see the module docs) at the config's ``executor.address``.
    Returns the run stats, as ``stats.json`` plus ``stage_pools`` (replica counts per pooled
    stage)."""
    try:
        import ray
    except ImportError:
        raise _native.ConfigError(
            "executor.type: ray needs the `ray` package: pip install 'ray>=2.10'"
        ) from None
    started = time.time()
    prep = json.loads(
        _native.prepare(text, name, overrides, overwrite, OperatorRegistry._native_specs())
    )
    config = prep["config"]
    run_dir = prep["run_dir"]
    if "://" not in run_dir:  # an object-store run directory is already absolute
        run_dir = os.path.abspath(run_dir)
    address = config["executor"].get("address")
    pooled = [s for s in config["stages"] if _is_pooled(s)]
    in_task = [s for s in config["stages"] if not _is_pooled(s)]
    task_cpu = max(
        [float((s.get("worker") or {}).get("resources", {}).get("cpu") or 1) for s in in_task]
        or [1.0]
    )

    we_started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"log_to_driver": True}
        if address and address != "local":
            kwargs["address"] = address
        else:
            kwargs["include_dashboard"] = False
            if config["executor"].get("num_workers"):
                kwargs["num_cpus"] = config["executor"]["num_workers"]
        ray.init(**kwargs)
        we_started = True
    pools: dict[str, Any] = {}
    in_flight: dict[Any, int] = {}
    bar = None
    state = "failed"
    phase_seconds: dict[str, float] = {}
    try:
        ctx: dict[str, Any] = {
            "run_dir": run_dir,
            "fingerprint": prep["fingerprint"],
            "cwd": os.getcwd(),
            "sys_path": [os.path.abspath(p) if p else os.getcwd() for p in sys.path],
            "imports": list(config.get("imports") or []),
            "attempts": attempts,
            "pools": {},
        }
        phases = [p for p in prep["phases"] if p["pending"]]
        if any(p["kind"] == "segment" for p in phases):
            pool_class = ray.remote(_StagePool)
            for stage in pooled:
                pools[stage["name"]] = _start_pool(
                    ray, pool_class, ctx, stage, ready_timeout, attempts, progress
                )
            ctx["pools"] = pools
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        limit = max_in_flight or max(2, 2 * int(cluster_cpus / max(task_cpu, 0.01)))
        remote_task = ray.remote(_run_task)
        # The local runner's reporter: the terminal line and `_mdf/progress.json`.
        bar = _native.RunProgress(run_dir, progress, OperatorRegistry._native_specs())
        for phase in phases:
            # Segment tasks run the in-task stages; group and merge tasks need one CPU.
            task = remote_task.options(
                num_cpus=task_cpu if phase["kind"] == "segment" else 1,
                max_retries=attempts,
                retry_exceptions=[ShardRetry],
            )
            phase_started = time.time()
            if not phase["is_last"]:
                _note(progress, f"{phase['label']}: {len(phase['pending'])} task(s)")
            pending = deque(phase["pending"])
            while pending or in_flight:
                while pending and len(in_flight) < limit:
                    number = pending.popleft()
                    in_flight[task.remote(ctx, phase, number)] = number
                done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
                for ref in done:
                    number = in_flight.pop(ref)
                    result = _result(ray, ref)
                    if phase["is_last"]:
                        bar.shard_done(number, result)
            # The barrier: the next phase reads what every task of this one wrote.
            phase_seconds[phase["label"]] = time.time() - phase_started
        pool_info = {name: ray.get(h.info.remote()) for name, h in pools.items()}
        state = "done"
    finally:
        if bar is not None:
            bar.finish(state)
        for ref in in_flight:
            ray.cancel(ref, force=True)
        for handle in pools.values():
            ray.kill(handle)
        if we_started:
            ray.shutdown()
    summary = json.loads(
        _native.finalize(
            run_dir,
            prep["resumed"],
            limit,
            time.time() - started,
            "ray",
            phase_seconds,
            OperatorRegistry._native_specs(),
        )
    )
    summary["stage_pools"] = pool_info
    return summary


def _start_pool(ray, pool_class, ctx, stage, ready_timeout, attempts, progress):
    """Starts one stage's replica pool and waits for its ``min_replicas``.

    The pool actor is pure Python and holds no data, so when its process dies before it is ready
    (killed, out of memory) it is started again, up to ``attempts`` times, as a crashed task
    would be; replicas that cannot start stay a clear error (``wait_ready`` raises, which is not
    retried)."""
    lo, hi = _replica_range(stage)
    res = (stage.get("worker") or {}).get("resources") or {}
    options = {**_ray_options(res, 1.0), "max_restarts": 3, "max_task_retries": 3}
    attempts = max(attempts, 1)
    for attempt in range(1, attempts + 1):
        handle = pool_class.options(num_cpus=0).remote(ctx, stage["name"], options, lo, hi)
        try:
            ray.get(handle.wait_ready.remote(ready_timeout))
            return handle
        except ray.exceptions.RayActorError as e:
            ray.kill(handle)
            lost = e
            _note(progress, f"stage `{stage['name']}`: pool actor lost ({attempt}/{attempts})")
    raise _native.InternalError(
        f"stage `{stage['name']}`: its replica pool actor died {attempts} times before it ran: "
        f"{lost}"
    )


def _result(ray, ref) -> str:
    """A task's result, with its failure re-raised as the engine's exception class."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = e.cause if hasattr(e, "cause") else None
        if isinstance(cause, ShardFailed):
            cls = getattr(_native, cause.kind, _native.MdfBaseError)
            raise cls(cause.message) from None
        if isinstance(cause, ShardRetry):
            raise _native.StorageError(f"{cause} (after retries)") from None
        raise _native.InternalError(f"a task failed: {e}") from None
    except ray.exceptions.WorkerCrashedError as e:
        raise _native.InternalError(f"a task's worker kept dying: {e}") from None
