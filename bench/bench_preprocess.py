"""Preprocessing throughput: dlib photos with 1 and 2 processes, and synthetic faces.

    python bench/bench_preprocess.py --images 96 --synthetic 800

Both write training records (the high-volume path). Two processes pay about 2 s once to
start the workers and load the landmark model in each.

The photo set is made from skimage's astronaut (the only real face photo at hand here):
flipped, rescaled and shifted copies, so dlib does real detection work on each.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import preprocess_train_images  # noqa: E402
from facedata import preprocess  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--images", type=int, default=96, help="photos run through face detection")
    p.add_argument("--synthetic", type=int, default=800, help="synthetic faces rendered")
    return p.parse_args(argv)


def make_photos(folder, count):
    from skimage.data import astronaut
    base = Image.fromarray(astronaut())
    rng = np.random.default_rng(0)
    for i in range(count):
        scale = rng.uniform(0.7, 1.3)
        image = base.resize((int(512 * scale), int(512 * scale)))
        if i % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.save(os.path.join(folder, f"photo_{i:04d}.jpg"), quality=92)


def time_run(argv):
    args = preprocess_train_images.parse_args(argv + ["--overwrite"])
    start = time.perf_counter()
    summary = preprocess.run(preprocess.write_train_records, **vars(args))
    return time.perf_counter() - start, summary


def measure(images=96, synthetic=800):
    """Rows of (what, count, seconds, per second, start-up seconds, steady-state per second)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = os.path.join(tmp, "photos")
        os.makedirs(photos)
        make_photos(photos, images)
        for processes in (1, 2):
            seconds, summary = time_run(["--input_dir", photos, "--output_dir", os.path.join(tmp, "out"),
                                         "--processes", str(processes)])
            rows.append((f"dlib photos, {processes} process{'es' if processes > 1 else ''}",
                         summary.images, seconds, summary.images / seconds, *summary.throughput))
        for processes in (1, 2):
            seconds, summary = time_run(["--synthetic", str(synthetic), "--output_dir",
                                         os.path.join(tmp, "syn"), "--processes", str(processes)])
            rows.append((f"synthetic faces, {processes} process{'es' if processes > 1 else ''}",
                         summary.images, seconds, summary.images / seconds, *summary.throughput))
    return rows


def main(args):
    rows = measure(args.images, args.synthetic)
    print(f"\n{'what':32s} {'count':>6s} {'seconds':>8s} {'per s':>8s} {'start-up s':>10s} {'steady per s':>12s}")
    for what, count, seconds, rate, startup, steady in rows:
        print(f"{what:32s} {count:6d} {seconds:8.1f} {rate:8.1f} {startup:10.1f} {steady:12.1f}")
    return rows


if __name__ == "__main__":
    main(parse_args())
