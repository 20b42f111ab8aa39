"""Small shared helpers: user-facing errors, atomic file writes, image grids.

Conventions used across the project: images are [B, H, W, 3] float in [-1, 1] inside the
models and uint8 [H, W, 3] on disk; masks are 1 for a known pixel; metrics are computed
on the [0, 1] scale.
"""
import contextlib
import json
import os
import sys
import time

import numpy as np
from PIL import Image


class UserError(Exception):
    """A problem the user can fix; scripts print it as one line, without a traceback."""


def run_cli(main, parse_args, searches=False):
    """Entry point of every script: parse, run, and turn UserError into one clear line.
    searches: the script runs the latent search, whose results TensorFlow makes change from
    run to run when it runs independent ops at once; it then runs one op at a time (unless
    TF_NUM_INTEROP_THREADS says otherwise), which costs the search little (docs/inpainting.md)."""
    if searches:
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")  # before TensorFlow starts
    try:
        return main(parse_args())
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary name beside `path`; rename it to `path` only if the block succeeds.

    A run killed half-way leaves at worst a stray *.tmp file, never a truncated output.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_image(path, image):
    """Save uint8 [H, W, 3] (or float in [-1, 1]) as a PNG, atomically."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = to_uint8(image)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def save_json(path, data):
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")


def save_npy(path, array):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_npz(path, **arrays):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def to_uint8(images):
    """[-1, 1] floats to uint8 [0, 255]."""
    return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def from_uint8(images):
    """[0, 255] pixels to floats in [-1, 1]: numpy input becomes float32; a TensorFlow tensor
    must be cast to a float type first."""
    if isinstance(images, (np.ndarray, list, tuple, int)):
        images = np.asarray(images, np.float32)
    return images / 127.5 - 1.0


def image_grid(images, rows=None):
    """Tile [N, H, W, C] images into one [rows*H, cols*W, C] image (empty tiles black)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = rows or int(np.ceil(np.sqrt(n)))
    cols = int(np.ceil(n / rows))
    padded = np.zeros((rows * cols, h, w, c), images.dtype)
    padded[:n] = images
    return padded.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def str2bool(value):
    """Flag values in the original's style: --conditional=False, --conditional false, ..."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("true", "t", "yes", "y", "1"):
        return True
    if value.lower() in ("false", "f", "no", "n", "0"):
        return False
    raise ValueError(f"not a boolean: {value}")


def save_gif(path, frames, seconds_per_frame=0.5):
    """Animated GIF of uint8 [K, H, W, 3] frames, looping, atomically."""
    import imageio.v3 as iio
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.asarray(frames), extension=".gif", duration=int(seconds_per_frame * 1000), loop=0)


def save_mp4(path, frames, fps=8):
    """H.264 video of uint8 [K, H, W, 3] frames (imageio's ffmpeg plugin), atomically."""
    import imageio.v3 as iio
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.asarray(frames), extension=".mp4", fps=fps, plugin="FFMPEG", macro_block_size=16,
                    output_params=["-f", "mp4"])  # the temporary name has no .mp4 for ffmpeg to go by


def progress_bar(iterable=None, *, total=None, desc="", unit="it"):
    """The project's progress bar (tqdm) over work that takes more than a few seconds: done,
    the rate (seconds a unit when slow) and the time left, on stderr; shown on a terminal,
    off when stderr is not one (logs get their own lines)."""
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, disable=None)


class Progress:
    """Stages of a command: prints each stage's start with the time elapsed, and keeps how
    long each took (`phases`, minutes) for the run's record. It makes no guess of the time
    left: that comes from measured speed (Eta), where a stage can measure it."""

    def __init__(self, stages):
        self.stages, self.done, self.start = stages, 0, time.perf_counter()
        self.phases, self.began = [], None

    def begin(self, name):
        self.began, self.name = time.perf_counter(), name
        print(f"\n=== [{self.done + 1}/{len(self.stages)}] {name} ({(self.began - self.start) / 60:.1f} min elapsed)",
              flush=True)

    def end(self):
        self.phases.append((self.name, (time.perf_counter() - self.began) / 60))
        self.done += 1

    def minutes(self):
        return (time.perf_counter() - self.start) / 60


class Eta:
    """Time left from the speed measured on this machine: work done (in any unit: steps,
    FLOPs) read against a clock, the rate taken from the first report of work done onwards,
    so that start-up (processes starting, TensorFlow tracing) is not taken for slowness."""

    def __init__(self, total, clock=time.perf_counter):
        self.total, self.clock = float(total), clock
        self.first = self.last = None

    def update(self, done):
        now = self.clock()
        if self.first is None and done > 0:
            self.first = (now, done)
        self.last = (now, done)

    def seconds_left(self):
        """Seconds to finish at the rate measured so far, or None before it can be measured."""
        if self.first is None or self.last[0] <= self.first[0] or self.last[1] <= self.first[1]:
            return None
        rate = (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])
        return max(self.total - self.last[1], 0.0) / rate
