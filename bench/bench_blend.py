"""Poisson blending: the project's vectorised solver against a per-pixel-loop baseline.

    python bench/bench_blend.py --images 64 --size 128

The baseline is what the original did, minus its wrap-around bug: for each image, a Python
loop over every pixel fills a sparse system, then pyamg solves it once per channel. Both
see the same 64 images and masks; the script prints times, the ratio and the largest
difference between the two results.
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from inpainting import masks  # noqa: E402
from inpainting.blend import poisson_blend  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--images", type=int, default=64, help="images blended per solver")
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--baseline_images", type=int, default=4,
                   help="images timed with the slow baseline (its time is per image, scaled up)")
    p.add_argument("--masks", default="center,checkboard", help="comma list of mask types")
    return p.parse_args(argv)


def loop_blend(target, source, mask):
    """One image the way the original did it (minus its left-right wrap-around): a Python loop
    over every pixel fills a sparse system, identity rows for known pixels and Laplacian rows
    for hole pixels, then pyamg solves it once per channel."""
    import pyamg
    h, w, c = target.shape
    n = h * w
    A = sp.lil_matrix((n, n))
    b = np.zeros((n, c))
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if mask[y, x] > 0.5:
                A[i, i] = 1
                b[i] = target[y, x]
                continue
            for qy, qx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= qy < h and 0 <= qx < w:
                    A[i, i] += 1
                    A[i, qy * w + qx] = -1
                    b[i] += source[y, x] - source[qy, qx]
    A = A.tocsr()
    solver = pyamg.ruge_stuben_solver(A)
    out = np.stack([solver.solve(b[:, ch], tol=1e-10) for ch in range(c)], axis=-1)
    return out.reshape(h, w, c)


def measure(images=64, size=128, baseline_images=8, mask_types=("center", "checkboard")):
    rng = np.random.default_rng(0)
    targets = rng.uniform(-1, 1, (images, size, size, 3))
    # Smooth sources, like generated faces, so the blended values stay in range.
    sources = np.cumsum(rng.uniform(-0.02, 0.02, (images, size, size, 3)), axis=2)
    rows = []
    for mask_type in mask_types:
        mask = masks.make_mask(mask_type, size)
        batch_masks = np.repeat(mask[None], images, axis=0)
        start = time.perf_counter()
        ours = poisson_blend(targets, sources, batch_masks, clip=None)
        fast = time.perf_counter() - start
        start = time.perf_counter()
        slow = [loop_blend(targets[i], sources[i], mask) for i in range(baseline_images)]
        slow_per_image = (time.perf_counter() - start) / baseline_images
        diff = max(np.abs(ours[i] - slow[i]).max() for i in range(baseline_images))  # pyamg tol 1e-10
        rows.append((mask_type, fast, slow_per_image * images, slow_per_image * images / fast, diff))
    return rows


def main(args):
    rows = measure(args.images, args.size, args.baseline_images, args.masks.split(","))
    print(f"{args.images} images {args.size}x{args.size}, 3 channels")
    print(f"{'mask':12s} {'ours s':>8s} {'loop s':>8s} {'ratio':>7s} {'max diff':>9s}")
    for mask_type, fast, slow, ratio, diff in rows:
        print(f"{mask_type:12s} {fast:8.3f} {slow:8.1f} {ratio:6.0f}x {diff:9.1e}")
    return rows


if __name__ == "__main__":
    main(parse_args())
