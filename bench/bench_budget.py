"""What the CPU demo's minutes buy: train and search steps of each method at the demo size.

    python bench/bench_budget.py                                  # experiments.py's defaults
    python bench/bench_budget.py --gf_dim 16 --df_dim 16 --batch_size 32
    python bench/bench_budget.py --baseline f926422 --train_steps 1500 --rounds 2   # old and new training

For each model of the comparison (ECGAN conditioned, the authors' DCGAN, ECGAN without its
map) it times the compiled train step and one latent-search step per image (at the search
batch), prints each against its FLOP floor at this machine's matmul peak, and projects the
minutes of `experiments.py` with these settings from the measured costs.

With --baseline REV it times the comparison's whole training stage instead, as the code at
REV runs it and as this code does, in turns (REV, this, REV, this, ...), on the same
synthetic records: every compared model trained --train_steps steps (each run a process of
its own in both, so both pay the start-up), and prints model steps per minute of each and
their ratio per pair.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_search import search_flops, time_search  # noqa: E402
from bench.bench_train import matmul_peak, time_train_step  # noqa: E402
from model import ModelConfig, train_step_flops  # noqa: E402
from paper.report import METHODS  # noqa: E402

MODELS = (("ECGAN, keypoint-conditioned", "ecgan", True), ("DCGAN (authors' DIP)", "dcgan", False),
          ("ECGAN without its map", "ecgan", False))


def parse_args(argv=None):
    import experiments
    defaults = experiments.parse_args([])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for name in ("output_size", "gf_dim", "df_dim", "batch_size", "train_steps", "nIter", "test_faces",
                 "temporal_subjects", "search_batch"):
        p.add_argument(f"--{name}", type=int, default=getattr(defaults, name), help=f"as experiments.py's --{name}")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--baseline", default=None, metavar="REV",
                   help="time the whole training stage of the code at this git revision against this code's")
    p.add_argument("--rounds", type=int, default=2, help="with --baseline: pairs of runs, old then new")
    for name in ("train_faces", "jobs"):
        p.add_argument(f"--{name}", type=int, default=getattr(defaults, name), help=f"as experiments.py's --{name}")
    p.add_argument("--ema_decay", type=float, default=defaults.ema_decay, help="as experiments.py's --ema_decay")
    return p.parse_args(argv)


def measure(args, peak=None):
    peak = peak or matmul_peak()
    rows = []
    for title, arch, conditional in MODELS:
        config = ModelConfig(output_size=args.output_size, gf_dim=args.gf_dim, df_dim=args.df_dim,
                             conditional=conditional, arch=arch)
        train = time_train_step(config, args.batch_size, args.steps, False, True)
        search = time_search(config, args.search_batch, args.steps, True)
        rows.append({"model": title, "train_step_s": train,
                     "train_floor_s": train_step_flops(config, args.batch_size, True) / peak / 1e9,
                     "search_step_s": search,
                     "search_floor_s": search_flops(config, args.search_batch, True) / peak / 1e9})
    return peak, rows


def projected_minutes(args, rows):
    """experiments.py's cost from the measured steps: training, then 4 masks x test faces and
    8 masks x consistency subjects of search, per model (data, blending and start-up excluded)."""
    batches = 4 * -(-args.test_faces // args.search_batch) + -(-8 * args.temporal_subjects // args.search_batch)
    train = sum(r["train_step_s"] for r in rows) * args.train_steps
    search = sum(r["search_step_s"] for r in rows) * args.nIter * batches
    return train / 60, search / 60


TRAIN_OLD = """
import sys, experiments as e
a = e.parse_args(["--results", sys.argv[1], "--train_steps", sys.argv[2], "--gf_dim", sys.argv[5], "--df_dim",
                  sys.argv[6], "--batch_size", sys.argv[7]])
key, _, arch, conditional = [m for m in e.METHODS if m[0] == sys.argv[3]][0]
e.train(a, key, arch, conditional, a.seed, sys.argv[4])
"""


def baseline_tree(revision):
    """The code at `revision`, exported to a temporary folder (removed at exit)."""
    import atexit
    import shutil
    import subprocess
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = tempfile.mkdtemp(prefix="baseline_")
    atexit.register(shutil.rmtree, folder, True)
    archive = subprocess.run(["git", "-C", root, "archive", revision], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


def time_training(args, baseline, records, keys):
    """Wall seconds of one training stage: the old code trains the models one after another,
    each in a process of its own; this code trains them side by side (training/jobs.py)."""
    import dataclasses
    import shutil
    import subprocess
    import tempfile
    import time

    from paper import comparison
    from core.configs import ComparisonConfig
    results = tempfile.mkdtemp(prefix="budget_")
    started = time.perf_counter()
    try:
        if baseline:
            for key in keys:
                subprocess.run([sys.executable, "-c", TRAIN_OLD, results, str(args.train_steps), key, records,
                                str(args.gf_dim), str(args.df_dim), str(args.batch_size)],
                               cwd=baseline, check=True, capture_output=True)
        else:
            config = dataclasses.replace(ComparisonConfig(), results=results, train_steps=args.train_steps,
                                         ema_decay=args.ema_decay, jobs=args.jobs, gf_dim=args.gf_dim,
                                         df_dim=args.df_dim, batch_size=args.batch_size)
            comparison.run_jobs([comparison.Job(key, comparison.train, (config, key, config.seed, records),
                                                os.path.join(results, f"{key}.log")) for key in keys], config.jobs)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(results, ignore_errors=True)


def compare_training(args):
    import tempfile

    from facedata import preprocess
    from paper.report import machine
    baseline = baseline_tree(args.baseline)
    records = os.path.join(tempfile.mkdtemp(prefix="budget_records_"), "records")
    preprocess.run(preprocess.write_train_records, output_dir=records, synthetic=args.train_faces, seed=0,
                   size=args.output_size)
    keys = [key for key, *_ in METHODS]  # all three, whatever experiments.py's --ablation default
    steps = len(keys) * args.train_steps
    print(f"{machine()}; {len(keys)} models x {args.train_steps} steps, gf_dim {args.gf_dim}, df_dim "
          f"{args.df_dim}, batch {args.batch_size}, {args.train_faces} faces; {args.baseline}: one model after "
          f"another; this code: {args.jobs} side by side, averaging {args.ema_decay}")
    pairs = []
    for r in range(args.rounds):
        old, new = time_training(args, baseline, records, keys), time_training(args, None, records, keys)
        pairs.append((old, new))
        print(f"round {r + 1}: {args.baseline} {old:.0f} s ({60 * steps / old:.0f} model steps/min), this code "
              f"{new:.0f} s ({60 * steps / new:.0f} model steps/min): {old / new:.2f}x", flush=True)
    ratios = sorted(old / new for old, new in pairs)
    print(f"model steps per minute, this code over {args.baseline}: median {ratios[len(ratios) // 2]:.2f}x "
          f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f}) over {len(pairs)} pairs")
    return pairs


def main(args):
    if args.baseline:
        return compare_training(args)
    peak, rows = measure(args)
    print(f"matmul peak {peak:.0f} GFLOP/s; {args.output_size}x{args.output_size}, gf_dim {args.gf_dim}, "
          f"df_dim {args.df_dim}; train batch {args.batch_size}, search batch {args.search_batch}")
    print(f"{'model':30s} {'train step':>11s} {'floor':>8s} {'of peak':>8s} {'search step':>12s} {'floor':>8s} "
          f"{'of peak':>8s}")
    for r in rows:
        print(f"{r['model']:30s} {1000 * r['train_step_s']:9.1f}ms {1000 * r['train_floor_s']:6.1f}ms "
              f"{100 * r['train_floor_s'] / r['train_step_s']:7.0f}% {1000 * r['search_step_s']:10.1f}ms "
              f"{1000 * r['search_floor_s']:6.1f}ms {100 * r['search_floor_s'] / r['search_step_s']:7.0f}%")
    train, search = projected_minutes(args, rows)
    print(f"projected: training {train:.1f} min ({args.train_steps} steps x 3 models), search {search:.1f} min "
          f"({args.nIter} steps on {4 * args.test_faces} + {8 * args.temporal_subjects} inpaintings x 3 models)")
    return rows


if __name__ == "__main__":
    main(parse_args())
