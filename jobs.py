"""Runs side by side: worker processes whose TensorFlow ops use one thread each.

At the CPU demo's size (32x32, gf_dim 8) an op is too small to gain from a second thread
(a 105 MFLOP conv takes 0.87 ms on one thread and 0.71 ms on two): one train step keeps
about 1.5 of 2 cores busy however the threads are set. Several runs side by side, each op
on one thread (independent ops of a run still go in parallel), keep every core busy. One
thread per op also makes a run's numbers independent of how many cores the machine has
and of what ran beside it: a run is the same in a worker, alone, or as
`TF_NUM_INTRAOP_THREADS=1 python main.py ...` (oneDNN's kernels split their sums by the
thread count, so other thread counts round differently).

Each job's output goes to its own log; the caller sees a progress line now and then and,
when a job fails, its error and the end of its log.
"""
import concurrent.futures
import contextlib
import multiprocessing
import os
import re
import sys
import time
import traceback

from utils import UserError

ONE_THREAD_PER_OP = {"TF_NUM_INTRAOP_THREADS": "1",
                     "TF_FORCE_GPU_ALLOW_GROWTH": "true"}  # several workers can share one GPU
PROGRESS_SECONDS = 20
STEP_LINE = re.compile(r"step (\d+)/(\d+)")


def _start_worker():
    """In each worker, before TensorFlow loads."""
    os.environ.update(ONE_THREAD_PER_OP)


@contextlib.contextmanager
def output_to(path):
    """stdout and stderr (Python's and the C++ libraries') appended to the file at path."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)


def _run_logged(function, args, log):
    with output_to(log):
        try:
            return function(*args)
        except UserError:
            raise
        except BaseException:
            traceback.print_exc()
            raise


def last_step(log):
    """'step N/M' from the last progress line of a log, or ''."""
    try:
        with open(log, errors="replace") as f:
            found = STEP_LINE.findall(f.read()[-4000:])
    except OSError:
        return ""
    return f"step {found[-1][0]}/{found[-1][1]}" if found else ""


def started_since(log, when):
    """Whether the job of this log has written to it since `when` (a pool queues one job
    more than it runs, and counts it as running)."""
    try:
        return os.path.getmtime(log) >= time.time() - (time.perf_counter() - when)
    except OSError:
        return False


def tail(log, lines=12):
    try:
        with open(log, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def run_jobs(jobs, workers):
    """jobs: (name, function, args, log) for function(*args) in a worker process (function
    and args picklable: a module-level function), at most `workers` at a time. Prints a
    line when each ends and, every PROGRESS_SECONDS, where the running ones are. Returns
    their results in order. A failing job stops the rest: its error is raised as one line
    naming its log, whose end is printed first."""
    if not jobs:
        return []
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: TensorFlow starts there
    with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context,
                                                initializer=_start_worker) as pool:
        futures = {pool.submit(_run_logged, function, args, log): (name, log) for name, function, args, log in jobs}
        started, pending = time.perf_counter(), set(futures)
        try:
            while pending:
                done, pending = concurrent.futures.wait(pending, PROGRESS_SECONDS,
                                                        return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    name, log = futures[future]
                    error = future.exception()
                    if error is not None:
                        print(tail(log), file=sys.stderr)
                        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                        raise UserError(f"{name} failed: {reason} (its log: {log})") from None
                    print(f"  {name}: done ({(time.perf_counter() - started) / 60:.1f} min; log {log})", flush=True)
                running = [f"{futures[f][0]} {last_step(futures[f][1])}".strip() for f in pending
                           if f.running() and started_since(futures[f][1], started)]
                if running and not done:
                    print(f"  {(time.perf_counter() - started) / 60:.1f} min: " + "; ".join(running), flush=True)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [future.result() for future in futures]
