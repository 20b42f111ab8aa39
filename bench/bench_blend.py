"""Poisson blending: the project's vectorised solver against a per-pixel-loop baseline.

    python bench/bench_blend.py --images 64 --size 128

The baseline is what the original did, minus its wrap-around bug: for each image, a Python
loop over the hole's pixels fills a sparse matrix and right-hand sides, then one sparse solve
per channel. Both see the same 64 images and masks; the script prints times, the ratio and
the largest difference between the two results.
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import masks  # noqa: E402
from blend import poisson_blend  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--baseline_images", type=int, default=8,
                   help="images timed with the slow baseline (its time is per image, scaled up)")
    p.add_argument("--masks", default="center,checkboard")
    return p.parse_args(argv)


def loop_blend(target, source, mask):
    """One image, the straightforward way: [H, W, C] arrays, mask 1 = known."""
    h, w, c = target.shape
    hole = np.argwhere(mask < 0.5)
    index = -np.ones((h, w), int)
    for n, (y, x) in enumerate(hole):
        index[y, x] = n
    A = sp.lil_matrix((len(hole), len(hole)))
    b = np.zeros((len(hole), c))
    for n, (y, x) in enumerate(hole):
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            qy, qx = y + dy, x + dx
            if not (0 <= qy < h and 0 <= qx < w):
                continue
            A[n, n] += 1
            b[n] += source[y, x] - source[qy, qx]
            if index[qy, qx] >= 0:
                A[n, index[qy, qx]] = -1
            else:
                b[n] += target[qy, qx]
    A = A.tocsr()
    out = target.astype(np.float64).copy()
    for ch in range(c):
        out[hole[:, 0], hole[:, 1], ch] = spla.spsolve(A, b[:, ch])
    return out


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
        diff = max(np.abs(ours[i] - slow[i]).max() for i in range(baseline_images))
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
