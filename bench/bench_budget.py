"""What the CPU demo's minutes buy: train and search steps of each method at the demo size.

    python bench/bench_budget.py                                  # experiments.py's defaults
    python bench/bench_budget.py --gf_dim 16 --df_dim 16 --batch_size 32

For each model of the comparison (ECGAN conditioned, the authors' DCGAN, ECGAN without its
map) it times the compiled train step and one latent-search step per image (at the search
batch), prints each against its FLOP floor at this machine's matmul peak, and projects the
minutes of `experiments.py` with these settings from the measured costs.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_search import search_flops, time_search  # noqa: E402
from bench.bench_train import matmul_peak, time_train_step  # noqa: E402
from model import ModelConfig, train_step_flops  # noqa: E402

MODELS = (("ECGAN, keypoint-conditioned", "ecgan", True), ("DCGAN (authors' DIP)", "dcgan", False),
          ("ECGAN without its map", "ecgan", False))


def parse_args(argv=None):
    import experiments
    defaults = experiments.parse_args([])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("output_size", "gf_dim", "df_dim", "batch_size", "train_steps", "nIter", "test_faces",
                 "temporal_subjects", "search_batch"):
        p.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
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


def main(args):
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
