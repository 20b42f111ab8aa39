"""Runs side by side: worker processes whose TensorFlow ops use one thread each.

At the CPU demo's size (32x32) an op is too small to gain from a second thread (a 105
MFLOP conv takes 0.87 ms on one thread and 0.71 ms on two): one train step keeps about 1.5
of 2 cores busy however the threads are set. Several runs side by side, each on one thread,
keep every core busy. One thread also makes a run's numbers repeatable and independent of
how many cores the machine has and of what ran beside it: a run is the same in a worker,
alone, or as `TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 python main.py ...`
(kernels split their sums by the thread count, so other thread counts round differently).

Each job's output goes to its own log; the caller sees a progress line now and then and,
when a job fails, its error and the end of its log. Jobs that say how much work they are
(Job.work, in any one unit: the comparison uses FLOPs) and print "step N/M" (or
"part N/M") lines as they go get the time left in the progress lines, from the speed
measured on this machine (utils.Eta); each job's start and end are kept (the run's phases).
"""
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import re
import sys
import time
import traceback

from utils import Eta, UserError

# One thread per op (several workers share the cores).
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1",
              "TF_FORCE_GPU_ALLOW_GROWTH": "true"}  # several workers can share one GPU
# The latent search's results change from run to run when TensorFlow runs independent ops
# at once (G(z) moved by up to 0.04 between two identical searches with 2 inter-op threads,
# with or without oneDNN; training was the same to the bit). Searching jobs run one op at a time;
# then a process's first search is the same every time; its later ones can differ between
# runs by a few float32 units in a gradient, which the search carries on (docs/inpainting.md).
ONE_OP_AT_A_TIME = dict(ONE_THREAD, TF_NUM_INTEROP_THREADS="1")
# Training is the comparison's critical path: a job that runs while a longer training still
# trains (an evaluation, say) yields the core to it when there are more jobs than cores.
# Scheduling only: what a job computes does not depend on it.
YIELDING = 10  # os.nice increment of such a job
PROGRESS_SECONDS = 20
STEP_LINE = re.compile(r"(step|part) (\d+)/(\d+)")


@dataclasses.dataclass
class Job:
    """function(*args) in a fresh worker process (function and args picklable: a module-level
    function), its output in `log`, TensorFlow's threads set by `env`, started once the job
    named `after` (if any) has finished."""
    name: str
    function: object
    args: tuple
    log: str
    env: dict = dataclasses.field(default_factory=lambda: dict(ONE_THREAD))
    after: str = None
    work: float = 0.0  # how much work, for the time left (0: not counted)
    nice: int = 0      # os.nice increment of its worker (YIELDING: gives way to the other jobs)


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


def _run_logged(function, args, log, env, nice=0):
    """(function's result, wall-clock start, end) in the worker."""
    os.environ.update(env)  # a fresh process: TensorFlow has not started yet
    if nice:
        os.nice(nice)
    started = time.time()
    with output_to(log):
        try:
            return function(*args), started, time.time()
        except UserError:
            raise
        except BaseException:
            traceback.print_exc()
            raise


def last_step(log):
    """(word, N, M) from the last 'step N/M' or 'part N/M' line of a log, or None."""
    try:
        with open(log, errors="replace") as f:
            found = STEP_LINE.findall(f.read()[-4000:])
    except OSError:
        return None
    return (found[-1][0], int(found[-1][1]), int(found[-1][2])) if found else None


def work_done(jobs, finished, running):
    """Work of the finished jobs plus each running job's share by its last step line;
    running: [(job, last_step(job.log))]."""
    done = sum(job.work for job in jobs if job.name in finished)
    for job, step in running:
        if step and step[2]:
            done += job.work * min(step[1] / step[2], 1.0)
    return done


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


def run_jobs(jobs, workers, timings=None, clock=time.perf_counter):
    """Runs the Jobs, at most `workers` at a time, each in a process of its own. Prints a line
    when each ends and, every PROGRESS_SECONDS, where the running ones are and (once it can
    be measured) the time left. Returns their results in order; `timings`, a dict, receives
    {job name: (start, end)} in minutes from the call. A failing job stops the rest: its
    error is raised as one line naming its log, whose end is printed first."""
    if not jobs:
        return []
    eta = Eta(sum(job.work for job in jobs), clock)
    origin = time.time()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: TensorFlow starts there
    results, futures, waiting = {}, {}, list(jobs)
    with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context,
                                                max_tasks_per_child=1) as pool:
        started = time.perf_counter()

        def submit_ready():
            for job in [j for j in waiting if j.after is None or j.after in results]:
                waiting.remove(job)
                futures[pool.submit(_run_logged, job.function, job.args, job.log, job.env, job.nice)] = job

        submit_ready()
        try:
            while futures:
                done, _ = concurrent.futures.wait(futures, PROGRESS_SECONDS,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    job = futures.pop(future)
                    error = future.exception()
                    if error is not None:
                        print(tail(job.log), file=sys.stderr)
                        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                        raise UserError(f"{job.name} failed: {reason} (its log: {job.log})") from None
                    results[job.name], began, ended = future.result()
                    if timings is not None:
                        timings[job.name] = ((began - origin) / 60, (ended - origin) / 60)
                    print(f"  {job.name}: done ({(time.perf_counter() - started) / 60:.1f} min; log {job.log})",
                          flush=True)
                submit_ready()
                running = [(job, last_step(job.log)) for future, job in futures.items()
                           if future.running() and started_since(job.log, started)]
                eta.update(work_done(jobs, results, running))
                left = eta.seconds_left()
                if running and not done:
                    steps = [f"{job.name} {'%s %d/%d' % step if step else ''}".strip() for job, step in running]
                    print(f"  {(time.perf_counter() - started) / 60:.1f} min: " + "; ".join(steps)
                          + ("" if left is None else f"; about {left / 60:.1f} min left at this machine's speed"),
                          flush=True)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [results[job.name] for job in jobs]
