"""Where a face video's time goes in sequence.py, per frame: decoding, dlib (face and
landmarks), the latent search (independent against warm), blending and pasting back.

    python bench/bench_sequence.py --frames 16 --output_size 64 --gf_dim 64 --df_dim 64

The frames are skimage's astronaut (needs scikit-image) centred on a grey frame of each size,
written as an MP4 and read back as sequence.py reads it. The search is timed on untrained
networks of the given widths (its cost does not depend on the weights): seconds per
z-iteration at batch 1 (one video) and batch 8 (8 clips at once), times the steps a frame
gets (--nIter for independent, --nIter_next after the first frame for warm).
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.bench_search import time_search  # noqa: E402
from core.configs import SearchConfig  # noqa: E402
from model import ModelConfig  # noqa: E402

FRAME_SIZES = ((256, 256), (640, 480), (1280, 720))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--frames", type=int, default=16, help="frames per clip")
    p.add_argument("--output_size", type=int, default=64, help="model size in pixels")
    p.add_argument("--gf_dim", type=int, default=64, help="generator width")
    p.add_argument("--df_dim", type=int, default=64, help="discriminator width")
    p.add_argument("--nIter", type=int, default=1500, help="search steps on the first frame")
    p.add_argument("--nIter_next", type=int, default=300, help="search steps per later frame")
    p.add_argument("--steps", type=int, default=5, help="z-iterations timed per batch size")
    return p.parse_args(argv)


def video_of(width, height, frames):
    """uint8 [frames, height, width, 3]: the astronaut, moving 2 px a frame, on grey."""
    import skimage.data
    side = min(height, 512)
    face = Image.fromarray(skimage.data.astronaut()).resize((side, side), Image.Resampling.BICUBIC)
    out = []
    for t in range(frames):
        canvas = Image.new("RGB", (width, height), (128, 128, 128))
        canvas.paste(face, ((width - side) // 2 + 2 * t - frames, (height - side) // 2))
        out.append(np.asarray(canvas))
    return np.stack(out)


def video_rows(frames, size):
    """[(frame size, decode s/frame, dlib s/frame, blend and paste s/frame, faces found)]."""
    from inpainting import clips, video
    from inpainting.blend import poisson_blend
    from facedata.faces import FaceFinder
    from utils import save_mp4
    finder, rows = FaceFinder(size=size), []
    for width, height in FRAME_SIZES:
        with tempfile.TemporaryDirectory() as root:
            path = os.path.join(root, "clip.mp4")
            save_mp4(path, video_of(width, height, frames))
            start = time.perf_counter()
            read = video.read_frames(path)[0]
            decode = (time.perf_counter() - start) / frames
        start = time.perf_counter()
        clip = video.face_clip(read, [str(t) for t in range(frames)], finder,
                               crop_masks=clips.clip_masks("moving", 1, frames, size)[0])
        faces = (time.perf_counter() - start) / frames
        start = time.perf_counter()
        blended = poisson_blend(clip.inputs[0], clip.truths[0], clip.masks[0])[None]
        clip.filled(blended)
        finish = (time.perf_counter() - start) / len(clip.used)
        rows.append((f"{width}x{height}", decode, faces, finish, len(clip.used)))
    return rows


def main(args):
    from paper.report import machine
    config = ModelConfig(output_size=args.output_size, gf_dim=args.gf_dim, df_dim=args.df_dim)
    print(f"machine: {machine()}; {args.frames} frames per video; model "
          f"{args.output_size}x{args.output_size}, gf_dim {args.gf_dim}, df_dim {args.df_dim}\n")
    print("| frames | decode (ms / frame) | dlib: face and landmarks (ms / frame) | blend and paste (ms / frame) |")
    print("|---|---|---|---|")
    for name, decode, faces, finish, found in video_rows(args.frames, args.output_size):
        print(f"| {name} ({found} of {args.frames} with a face) | {1e3 * decode:.1f} | {1e3 * faces:.0f} | "
              f"{1e3 * finish:.1f} |")
    print(f"\n| search, batch | s / z-iteration | independent: s / frame ({args.nIter} steps) | warm after the first "
          f"frame: s / frame ({args.nIter_next} steps) |")
    print("|---|---|---|---|")
    for batch in (1, 8):
        seconds = time_search(config, batch, args.steps, shortcut=SearchConfig().tiled_z_shortcut)
        print(f"| {batch} clip{'s' if batch > 1 else ''} at once | {seconds:.4f} | {args.nIter * seconds / batch:.2f} "
              f"per clip | {args.nIter_next * seconds / batch:.2f} per clip |")


if __name__ == "__main__":
    main(parse_args())
