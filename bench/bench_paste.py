"""Pasting a 64-px fill back into a photo or video frame: the former copy of the upscaled
fill against the Poisson blend at the frame's own resolution (photo.paste_face), in ms a
frame.

    python bench/bench_paste.py --repeats 5

The frames are skimage's astronaut (needs scikit-image) scaled so that the face box is
--face_fraction of the frame's height, in a 512x512 and a 1920x1080 frame; the holes are
the paper's center mask (half the box a side) and its left half, drawn on the face box as
complete.py --image and sequence.py --video draw them. The fill is the face crop itself at
64 px (its content does not change the cost). Each frame's blend factorises its own system,
as a video whose face box moves does.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

FRAMES = ((512, 512), (1920, 1080))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="pastes timed per case (the median is printed)")
    p.add_argument("--face_fraction", type=float, default=0.6, help="face box side over the frame's height")
    p.add_argument("--size", type=int, default=64, help="the fill's side (the model's output size)")
    p.add_argument("--masks", default="center,left", help="comma list of mask types")
    return p.parse_args(argv)


def frame_with_face(width, height, fraction):
    """(uint8 [height, width, 3] frame, the face box dlib finds): the astronaut scaled so
    that her face box is about `fraction` of the frame's height, centred, on grey."""
    import skimage.data
    from facedata.faces import FaceFinder, largest_box
    photo = skimage.data.astronaut()
    finder = FaceFinder()
    found = largest_box(finder.boxes(photo))
    scale = fraction * height / (found[3] - found[1])
    side = round(photo.shape[0] * scale)
    centre = ((found[0] + found[2]) / 2 * scale, (found[1] + found[3]) / 2 * scale)
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    canvas.paste(Image.fromarray(photo).resize((side, side), Image.Resampling.BICUBIC),
                 (round(width / 2 - centre[0]), round(height / 2 - centre[1])))
    frame = np.asarray(canvas)
    small = 640 / max(width, height)  # dlib at 1 upsample on a 1080p frame takes seconds: look at it smaller
    boxes = finder.boxes(np.asarray(canvas.resize((round(width * small), round(height * small)))))
    box = tuple(int(round(v / small)) for v in largest_box(boxes))
    return frame, (max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height))


def rows(args):
    """[(frame, mask, hole pixels, ms old copy, ms new blend)]."""
    from inpainting import masks
    from facedata.faces import crop_pixels
    from inpainting.photo import mask_on_box, paste_face
    from utils import from_uint8
    out = []
    for width, height in FRAMES:
        frame, box = frame_with_face(width, height, args.face_fraction)
        fill = from_uint8(crop_pixels(frame, box, args.size))
        for kind in args.masks.split(","):
            photo_mask = mask_on_box(masks.make_mask(kind, args.size), box, height, width)
            damaged = (frame * photo_mask[..., None]).astype(np.uint8)
            times = {}
            for blend in (False, True):
                spent = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    paste_face(damaged, fill, box, photo_mask, blend=blend)
                    spent.append(time.perf_counter() - start)
                times[blend] = 1000 * float(np.median(spent))
            out.append((f"{width}x{height}", kind, int((photo_mask < 0.5).sum()), times[False], times[True]))
    return out


def main(args):
    from paper.report import machine
    print(f"pasting a {args.size}-px fill into a frame, median of {args.repeats}; {machine()}")
    print(f"{'frame':>10} {'mask':>8} {'hole px':>9} {'copy ms':>9} {'blend ms':>9}")
    table = rows(args)
    for frame, kind, pixels, copy, blend in table:
        print(f"{frame:>10} {kind:>8} {pixels:>9} {copy:>9.1f} {blend:>9.1f}")
    return table


if __name__ == "__main__":
    main(parse_args())
