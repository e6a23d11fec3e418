"""The Ray backend (extra ``pathpatch[ray]``): a study's cells on the workers of a Ray cluster.

``RayBackend()`` starts a local cluster (``workers`` CPU slots, default the cores; dashboard
off); ``RayBackend(address="HOST:PORT")`` joins a running one (``ray start --head`` on the
cluster). Token authentication is always on: Ray starts a local cluster with it
(and writes its token to ``~/.ray/auth_token``), a cluster is joined only with its token here, and
an environment that turns it off (``RAY_AUTH_MODE=disabled``) is refused. To join a cluster, give
this machine the cluster's token, e.g. ``RAY_AUTH_TOKEN_PATH=/path/to/token`` (README, "Studies on
a cluster"). Every server of a local cluster listens on 127.0.0.1 only (:func:`_loopback`).

Each worker is an actor (one CPU slot, or one GPU with ``gpus=True``) that loads each model and
draw once and keeps them across cells. A cell crosses as JSON values (:func:`~pathpatch.study.
execute.cell_task`) and comes back as its file's JSON values; nothing is unpickled that did not
come from the cluster. A worker that dies (its process killed, its machine lost) is restarted
and its cell retried, up to ``retries`` times; a cell whose step fails fails once, with its error,
and is not retried. Cells run in one thread per worker by default (``threads``), so that a cell's
numbers equal those of a local run with the same thread count.

The backend also shards one scoring pass over its workers (:meth:`RayBackend.map_units`, what
``pp.score(..., backend=RayBackend())`` calls): the pass's :class:`~pathpatch.batches.Job` goes to the
object store once, each worker plans it once and computes runs of its units (batches), and the
driver puts them back in order. A worker that dies has its run of units retried on its restart; an
error in a unit is raised in the driver as it was raised in the worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..batches import Job, Plan, Unit, UnitValues, plan_values, unit_values
from ..errors import ArgumentError, ModelLoadError, WorkerLostError
from ..study.cells import Cell
from ..study.inputs import Inputs
from .base import Finished

__all__ = ["RayBackend", "require_ray", "CellWorker", "SHARDS_PER_WORKER", "heaviest_first"]

SHARDS_PER_WORKER = 4  # runs of units per worker in a sharded pass: balance and retries at little overhead


def require_ray() -> Any:
    """The ``ray`` module, or a typed error saying how to install it."""
    os.environ.setdefault(_LOOPBACK, "0")  # before Ray's constants are read: see _loopback
    try:
        import ray
    except ImportError:
        raise ModelLoadError(
            "the Ray backend needs the ray package, which is not installed: pip install 'pathpatch[ray]' "
            "(or -c constraints.txt -e '.[ray]' in a checkout)"
        ) from None
    return ray


def _has_token() -> bool:
    """Whether a token is configured as Ray looks for one (environment, file, default path)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return True
    return Path("~/.ray/auth_token").expanduser().is_file()


def _auth(local: bool) -> None:
    """Token authentication on, always (module docs). Ray (2.59 on) starts a new local cluster with
    token authentication and writes its token to ``~/.ray/auth_token``; joining a cluster needs
    its token here. An environment that turns authentication off is refused."""
    mode = os.environ.get("RAY_AUTH_MODE", "")
    if mode and mode != "token":
        raise ArgumentError(
            f"RAY_AUTH_MODE={mode!r}: pathpatch runs Ray with token authentication only; unset it or set "
            "RAY_AUTH_MODE=token (and give joining machines the cluster's token)"
        )
    if not local and not _has_token():
        raise ArgumentError(
            "joining a Ray cluster needs its authentication token: set RAY_AUTH_TOKEN_PATH to a file "
            "holding it (on the head node: `ray get-auth-token`), or RAY_AUTH_TOKEN"
        )


_LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _loopback(ray: Any) -> None:
    """Make a new local cluster bind to 127.0.0.1 only. Ray (2.60) picks the node's address as the
    one that routes outward and binds its servers to it, unless it runs as on a laptop, where it
    takes the loopback address; that is Ray's switch ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read
    from the environment by every process the cluster starts and, in this one, from a constant."""
    os.environ[_LOOPBACK] = "0"
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False


class CellWorker:
    """A worker: runs cells given as JSON values and returns their files' JSON values."""

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.inputs: dict[str, Inputs] = {}
        self.plans: dict[str, Plan] = {}  # the current sharded pass's plan, by its job's object id

    def pid(self) -> int:
        return os.getpid()

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        from ..study.execute import cell_of_task, run_cell

        inputs = self.inputs.setdefault(task["base"], Inputs(Path(task["base"]), None))
        return run_cell(cell_of_task(task), inputs)

    def units(self, job: list[Any], units: list[Unit]) -> list[UnitValues]:
        """The values of ``units`` of the pass whose :class:`Job` is ``job[0]`` (an object reference,
        in a list so that Ray hands it over unresolved: the job is fetched and planned once)."""
        import ray

        key = job[0].hex()
        if key not in self.plans:
            value: Job = ray.get(job[0])
            self.plans = {key: plan_values(value.model, value.named, value.pairs, value.options, value.means)}
        plan = self.plans[key]
        return [unit_values(plan, unit) for unit in units]


_SEARCHES = frozenset({"acdc", "paths", "ladder", "trace", "scan", "eap-ig"})  # the step kinds that cost most


def heaviest_first(cells: Sequence[Cell]) -> list[Cell]:
    """``cells`` in the order a pool of workers should start them: those with more searching steps
    (ACDC, path search, ladder, trace, scans, EAP-IG) first, then those with more steps, otherwise
    in the study's order. The last cells to start are then the short ones, which shortens the run
    on many workers (the shipped robustness study on 8: 72 s instead of 94 s, from its measured
    cell times)."""

    def weight(cell: Cell) -> tuple[int, int]:
        kinds = [cell.spec.steps[name].kind for name in cell.steps]
        return sum(kind in _SEARCHES for kind in kinds), len(kinds)

    return sorted(cells, key=weight, reverse=True)  # stable: ties keep the study's order


def _failed(cell: Cell, error: str) -> dict[str, Any]:
    from ..study.store import CELL_FORMAT

    return {**cell.to_dict(), "format": CELL_FORMAT, "status": "failed", "error": error, "steps": {}, "seconds": 0.0}


class RayBackend:
    """Cells on a Ray cluster (module docs)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        threads: int = 1,
        gpus: bool = False,
        retries: int = 3,
    ) -> None:
        self.ray = require_ray()
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ArgumentError(f"workers must be a positive int, got {workers!r}")
        _auth(local=address is None)
        self.started = False
        if not self.ray.is_initialized():
            if address is None:
                _loopback(self.ray)
                self.ray.init(
                    num_cpus=workers or os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                self.ray.init(address=address, log_to_driver=False, configure_logging=False)
            self.started = True
            local = address is None and self.ray.util.get_node_ip_address() != "127.0.0.1"
            if not _has_token() or local:  # no token authentication, or not on loopback: refuse to go on
                self.ray.shutdown()
                raise ArgumentError(
                    "the local Ray cluster started without token authentication or bound beyond 127.0.0.1; "
                    "pathpatch pins ray==2.60.0 (pip install 'pathpatch[ray]'), which does both"
                )
        kind = "GPU" if gpus else "CPU"
        slots = int(self.ray.cluster_resources().get(kind, 0))
        if slots < (workers or 1):  # an actor that no node can hold would wait forever
            if self.started:
                self.ray.shutdown()
            raise ArgumentError(
                f"the Ray cluster has {slots} {kind} slot{'s' * (slots != 1)}, fewer than the {workers or 1} "
                f"worker{'s' * ((workers or 1) != 1)} asked for; "
                + ("drop --gpus (one worker per CPU slot), or join a cluster with GPUs" if gpus else "ask for fewer")
            )
        self.workers = workers or slots
        remote = self.ray.remote(num_cpus=0 if gpus else 1, num_gpus=1 if gpus else 0)(CellWorker)
        self.actors = [
            remote.options(max_restarts=retries, max_task_retries=retries).remote(threads) for _ in range(self.workers)
        ]
        self.retries = retries
        self.pids()  # every worker up before any cell: a pool that is still starting is not killed half-made

    def pids(self) -> list[int]:
        """The workers' process ids (a test kills one)."""
        return list(self.ray.get([a.pid.remote() for a in self.actors]))

    def run(self, cells: Sequence[Cell], inputs: Inputs, echo: Callable[[str], object]) -> Iterator[Finished]:
        from ..study.execute import cell_task

        ray = self.ray
        queue = heaviest_first(cells)[::-1]
        idle = list(self.actors)
        pending: dict[Any, tuple[Cell, Any]] = {}
        while queue or pending:
            while queue and idle:
                cell, actor = queue.pop(), idle.pop()
                pending[actor.run.remote(cell_task(cell, inputs.base))] = (cell, actor)
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            cell, actor = pending.pop(ref)
            idle.append(actor)
            try:
                data = ray.get(ref)
            except ray.exceptions.RayTaskError as err:  # the cell's own error, raised in the worker
                data = _failed(cell, f"{type(err.cause).__name__}: {err.cause}")
            except ray.exceptions.RayActorError as err:  # the worker died more than `retries` times
                data = _failed(cell, f"its worker died {self.retries + 1} times: {type(err).__name__}")
            yield Finished(cell, data)

    def map_units(self, job: Job, units: Sequence[Unit], done: Callable[[int], object]) -> list[UnitValues]:
        """The values of ``units`` of one pass (:class:`~pathpatch.batches.ShardBackend`), computed by
        the workers in runs of consecutive units, returned in the order given."""
        ray = self.ray
        box = [ray.put(job)]
        size = max(1, -(-len(units) // (SHARDS_PER_WORKER * len(self.actors))))
        runs = [list(range(i, min(i + size, len(units)))) for i in range(0, len(units), size)]
        queue, idle = runs[::-1], list(self.actors)
        pending: dict[Any, tuple[list[int], Any]] = {}
        out: list[UnitValues | None] = [None] * len(units)
        try:
            while queue or pending:
                while queue and idle:
                    run, actor = queue.pop(), idle.pop()
                    pending[actor.units.remote(box, [units[i] for i in run])] = (run, actor)
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                run, actor = pending.pop(ref)
                idle.append(actor)
                try:
                    values = ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the unit's own error: as if raised here
                    raise (err.cause if isinstance(err.cause, Exception) else err) from None
                except ray.exceptions.RayActorError as err:
                    raise WorkerLostError(
                        f"a worker died {self.retries + 1} times on examples {units[run[0]].start}-"
                        f"{units[run[-1]].stop - 1} ({type(err).__name__}); nothing partial is kept: run again "
                        "with more retries, more workers or a smaller batch_size"
                    ) from None
                for i, value in zip(run, values):
                    out[i] = value
                done(len(run))
        finally:
            for ref in pending:
                ray.cancel(ref)
        return [value for value in out if value is not None]

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started:
            self.ray.shutdown()
