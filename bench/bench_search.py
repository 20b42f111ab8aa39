"""Latent-search speed: seconds per z-iteration at batch 64 against its FLOP floor, with and
without the exact tiled-z shortcut of the generator's first conv.

    python bench/bench_search.py --output_size 64 --batch_size 64 --steps 5
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.bench_train import matmul_peak, network_args  # noqa: E402
from core.configs import SearchConfig  # noqa: E402
from inpainting.inpaint import LatentSearch  # noqa: E402
from model import GANNetworks, ModelConfig, layer_flops  # noqa: E402


def parse_args(argv=None):
    p = network_args(argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                             formatter_class=argparse.ArgumentDefaultsHelpFormatter))
    p.add_argument("--steps", type=int, default=5, help="timed search steps per case")
    return p.parse_args(argv)


def search_flops(config, batch_size, shortcut=False):
    """One z-iteration: G and D forward, then input gradients back to z (about one forward
    pass each): 2 (G + D) per image. With the shortcut, z enters after the first conv, whose
    map part then needs no input gradient."""
    g_layers, d_layers = layer_flops(config, shortcut)
    g, d = sum(g_layers), sum(d_layers)
    return batch_size * (2 * (g + d) - (g_layers[0] if shortcut else 0))


def time_search(config, batch_size, steps, shortcut):
    gan = GANNetworks(config)
    rng = np.random.default_rng(0)
    shape = (batch_size, config.output_size, config.output_size, 3)
    images = rng.uniform(-1, 1, shape).astype(np.float32)
    maps = rng.uniform(-1, 1, shape).astype(np.float32)
    masks = np.ones(shape[:3] + (1,), np.float32)
    masks[:, shape[1] // 4: 3 * shape[1] // 4, shape[1] // 4: 3 * shape[1] // 4] = 0
    search = LatentSearch(gan, SearchConfig(batch_size=batch_size, tiled_z_shortcut=shortcut))
    search.start()
    search.run(images, maps, masks, 1)  # trace
    start = time.perf_counter()
    search.run(images, maps, masks, steps)
    return (time.perf_counter() - start) / steps


def measure(output_size=64, batch_size=64, gf_dim=64, df_dim=64, steps=5, peak=None):
    config = ModelConfig(output_size=output_size, gf_dim=gf_dim, df_dim=df_dim)
    peak = peak or matmul_peak()
    rows = []
    for shortcut in (False, True):
        seconds = time_search(config, batch_size, steps, shortcut)
        rows.append({"variant": "tiled-z shortcut" if shortcut else "plain", "seconds": seconds,
                     "flops": search_flops(config, batch_size, shortcut),
                     "floor": search_flops(config, batch_size, shortcut) / peak / 1e9})
    return peak, rows


def main(args):
    peak, rows = measure(args.output_size, args.batch_size, args.gf_dim, args.df_dim, args.steps)
    print(f"matmul peak {peak:.1f} GFLOP/s; z-iteration at batch {args.batch_size}, "
          f"{args.output_size}x{args.output_size}: floor {rows[0]['floor']:.2f} s plain, "
          f"{rows[1]['floor']:.2f} s with the shortcut")
    for row in rows:
        print(f"{row['variant']:18s} {row['seconds']:7.3f} s/iteration  {row['flops'] / 1e9:6.0f} GFLOP executed  "
              f"{100 * row['flops'] / row['seconds'] / 1e9 / peak:5.1f}% of peak  "
              f"speed-up {rows[0]['seconds'] / row['seconds']:.2f}x")
    return rows


if __name__ == "__main__":
    main(parse_args())
