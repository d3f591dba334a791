"""Sweeps on Dask: every point of a spec (``flows.sweep_spec``) a ``dask.distributed`` task
(``flows.sweep_points.run_point``), its row a Parquet file as soon as it finishes
(``tools.sweep``, ``docs/sweeps.md``).

:func:`run_sweep` submits the points not yet finished in ``out`` (a rerun of the same spec
resumes; failed points run again) to a ``LocalCluster`` it starts and stops, to a running
scheduler, or runs them in process; writes each row to ``<out>/points/<id>.parquet``
(atomically, from the client: workers need no shared file system); reports progress; and
returns the rows. ``flows.sweep_report`` turns them into the summary and the plot.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

from flows import REPO
from flows.sweep_points import error_text, run_point
from flows.sweep_spec import PARAMS, Spec
from model.files import write_with

#: Metric columns of every row (besides the parameters), with their Arrow type names.
METRICS = {
    "accuracy": "float64",
    "float_accuracy": "float64",
    "rms_lsb": "float64",
    "decisions_per_inference": "int64",
    "train_seconds": "float64",
    "rtl_sim": "string",
    "rtl_vectors": "int64",
    "rtl_mismatches": "int64",
    "rtl_seconds": "float64",
}
#: Bookkeeping columns of every row.
META = {
    "sweep": "string",
    "point_id": "string",
    "point_index": "int64",
    "status": "string",
    "error": "string",
    "wall_seconds": "float64",
    "worker": "string",
    "finished_at": "string",
    "git_commit": "string",
    "versions": "string",
}

# -- the dataset -----------------------------------------------------------------------------


def arrow_schema(spec: Spec):
    """The Arrow schema of this spec's rows: bookkeeping, the kind's parameters, metrics."""
    import pyarrow as pa

    arrow = {"float64": pa.float64(), "int64": pa.int64(), "string": pa.string()}
    by_type = {int: "int64", float: "float64", str: "string"}
    fields = [pa.field(k, arrow[t]) for k, t in META.items()]
    fields += [pa.field(k, arrow[by_type[p.type]]) for k, p in PARAMS[spec.kind].items()]
    fields += [pa.field(k, arrow[t]) for k, t in METRICS.items()]
    return pa.schema(fields)


def points_dir(out: Path) -> Path:
    return Path(out) / "points"


def write_row(out: Path, spec: Spec, row: dict) -> Path:
    """One point's row as ``<out>/points/<point_id>.parquet`` (atomic: a killed sweep
    leaves whole files only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(spec)
    full = {name: row.get(name) for name in schema.names}
    for name in schema.names:
        if schema.field(name).type == pa.float64() and full[name] is not None:
            full[name] = float(full[name])
    table = pa.Table.from_pylist([full], schema=schema)
    path = points_dir(out) / f"{row['point_id']}.parquet"
    return write_with(path, lambda fh: pq.write_table(table, fh))


def read_rows(out: Path, ids=None) -> list[dict]:
    """The rows in ``<out>/points`` (only those of ``ids`` when given), by point index."""
    import pyarrow.parquet as pq

    rows = []
    folder = points_dir(out)
    if not folder.is_dir():
        return rows
    for f in sorted(folder.glob("*.parquet")):
        if ids is not None and f.stem not in ids:
            continue
        try:
            rows.extend(pq.read_table(f).to_pylist())
        except Exception as exc:  # a damaged file: that point runs again
            print(f"warning: {f}: unreadable ({exc}); the point runs again", file=sys.stderr)
    return sorted(rows, key=lambda r: r["point_index"])


def git_commit() -> str:
    """``HEAD``'s commit, ``+dirty`` when the work tree differs (``unknown`` outside git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


# -- running -----------------------------------------------------------------------------------


class Progress:
    """Points done, rate and time left: a bar redrawn in place on a terminal, else one line
    per finished point."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()

    def update(self, row: dict, label: str) -> str:
        self.done += 1
        self.failed += row["status"] != "ok"
        el = time.perf_counter() - self.t0
        rate = self.done / el if el > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        what = (
            f"{100 * row['accuracy']:.2f} %"
            if row["status"] == "ok" and row.get("accuracy") is not None
            else row["status"]
        )
        width = 24
        fill = int(width * self.done / max(self.total, 1))
        line = (
            f"[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} points, "
            f"{rate:.2f}/s, {left:.0f} s left" + (f", {self.failed} failed" if self.failed else "")
        )
        if self.tty:
            self.stream.write(f"\r{line}  {label}: {what}"[:160].ljust(160))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{line}  {label}: {what}\n")
        self.stream.flush()
        return line


def expected_cost(point: dict) -> int:
    """A rank of a point's run time (an RTL check > ADC-aware training > a golden chain):
    Dask starts higher ranks first, so the longest points do not trail at the end."""
    p = point["params"]
    return 2 * bool(point.get("rtl")) + (p.get("training", "float") != "float")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a batch job's share)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def point_label(spec: Spec, point: dict) -> str:
    return " ".join(f"{a}={point['params'][a]}" for a in spec.axes) or point["id"]


def run_sweep(
    spec: Spec,
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    log=None,
    progress_stream=None,
) -> dict:
    """Run every point of ``spec`` not yet finished in ``out`` and return
    ``{"rows": [...every point's row...], "ran": n, "skipped": n, "seconds": ..., ...}``.

    ``scheduler``: ``tcp://HOST:PORT`` of a running ``dask scheduler`` (attach); else a
    ``LocalCluster`` of ``workers`` single-threaded worker processes (default: one per
    core), started and stopped here; ``serial``: in this process, no Dask (a reference
    run). Finished rows (``status == "ok"``) are skipped; failed ones run again.
    """
    log = log or (lambda *a: print(*a, file=sys.stderr, flush=True))
    out = Path(out)
    points_dir(out).mkdir(parents=True, exist_ok=True)
    for tmp in points_dir(out).glob(".*.parquet.tmp-*"):  # a killed sweep's half-written row
        tmp.unlink(missing_ok=True)
    points = spec.points()
    ids = {p["id"] for p in points}
    done = {r["point_id"] for r in read_rows(out, ids) if r["status"] == "ok"}
    todo = [p for p in points if p["id"] not in done]
    commit = git_commit()
    log(
        f"sweep {spec.name}: {len(points)} points, {len(done)} already finished in "
        f"{points_dir(out)}, {len(todo)} to run"
    )
    t0 = time.perf_counter()
    prog = Progress(len(todo), progress_stream)
    info = {
        "startup_seconds": 0.0,
        "workers": 1 if todo else 0,
        "scheduler": "serial (in process)" if todo else "nothing to run",
    }
    task_seconds = 0.0

    def finish(point, row):
        nonlocal task_seconds
        row.update(
            sweep=spec.name, git_commit=commit, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z")
        )
        row.update({k: point["params"].get(k) for k in PARAMS[spec.kind]})
        task_seconds += row.get("wall_seconds") or 0.0
        write_row(out, spec, row)
        prog.update(row, point_label(spec, point))

    if todo and serial:
        for point in todo:
            finish(point, run_point(point))
    elif todo:
        from distributed import Client, as_completed

        cluster = None
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except OSError as exc:  # TimeoutError included
                raise ConnectionError(
                    f"cannot reach the dask scheduler {scheduler}: {exc}"
                ) from None
            info["scheduler"] = scheduler
        else:
            import logging

            from distributed import LocalCluster

            n = workers or usable_cores()
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                # a free loopback port: None would still try 8787 and warn when it is taken
                dashboard_address="127.0.0.1:0",
                host="127.0.0.1",
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
            info["scheduler"] = f"LocalCluster ({n} workers x 1 thread)"
        try:
            info["workers"] = len(client.scheduler_info(n_workers=-1)["workers"])
            info["startup_seconds"] = round(time.perf_counter() - t0, 2)  # cluster up
            log(f"  {info['scheduler']}: {info['workers']} workers")
            futures = {
                client.submit(
                    run_point,
                    point,
                    key=f"point-{spec.name}-{point['id']}",
                    pure=False,
                    retries=1,
                    priority=expected_cost(point),  # long points first: a shorter tail
                ): point
                for point in todo
            }
            for fut in as_completed(list(futures)):  # as each finishes, in any order
                point = futures[fut]
                try:
                    row = fut.result()
                except Exception as exc:  # the task itself died (worker killed twice, ...)
                    row = {
                        "point_id": point["id"],
                        "point_index": point["index"],
                        "status": "failed",
                        "error": error_text(exc),
                        "worker": None,
                        "versions": None,
                        "wall_seconds": None,
                    }
                fut.release()  # written below: a worker lost later need not recompute it
                finish(point, row)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    seconds = time.perf_counter() - t0
    rows = read_rows(out, ids)
    failed = [r for r in rows if r["status"] != "ok"]
    return {
        "spec": spec.path,
        "name": spec.name,
        "points": len(points),
        "ran": len(todo),
        "skipped": len(points) - len(todo),
        "failed": [(r["point_id"], r["error"]) for r in failed],
        "failed_labels": [
            point_label(spec, p) for p in points if p["id"] in {r["point_id"] for r in failed}
        ],
        "seconds": round(seconds, 2),
        "points_per_second": round(len(todo) / seconds, 3) if todo and seconds > 0 else None,
        "task_seconds": round(task_seconds, 2),
        # busy fraction of the workers: task time / (wall time x workers)
        "utilisation": round(task_seconds / (seconds * info["workers"]), 3)
        if todo and seconds > 0
        else None,
        "git_commit": commit,
        **info,
        "rows": rows,
    }
