"""Mask geometry (docs/spec.md sections 5 and 6): masks are float32 [S, S], 1 = known pixel.

Polygons are given in (x, y) at 64x64, as in the original, and scaled to other sizes.
"""
import numpy as np
from PIL import Image, ImageDraw

from core.configs import MASK_TYPES
from utils import UserError

FREEHAND_POLYGON = ((10, 10), (10, 15), (7, 30), (12, 54), (35, 50), (50, 48), (30, 25))
TEMPORAL_POLYGONS = (
    ((10, 10), (15, 10), (30, 7), (54, 12), (50, 35), (48, 50), (25, 30)),
    FREEHAND_POLYGON,
    ((20, 1), (20, 20), (10, 52), (25, 48), (48, 40), (28, 20), (20, 1)),
    ((1, 20), (20, 20), (52, 10), (48, 25), (40, 48), (20, 28), (1, 20)),
)
TEMPORAL_CENTER_SCALES = (0.20, 0.30)
TEMPORAL_TILES = (8, 16, 32)


def center(size, scale=0.25):
    mask = np.ones((size, size), np.float32)
    low, high = int(size * scale), int(size * (1 - scale))
    mask[low:high, low:high] = 0
    return mask


def checkboard(size, tile=None):
    """Tiles of `tile` px, missing where (row + column) is odd; the default tile, S/2, gives
    the original's 2x2 quadrants with top-right and bottom-left missing."""
    tile = tile or size // 2
    index = np.arange(size) // tile
    return ((index[:, None] + index[None, :]) % 2 == 0).astype(np.float32)


def polygon(size, points):
    """Mask with the polygon (x, y at 64x64, scaled to size) as its hole."""
    canvas = Image.new("L", (size, size), 255)
    scale = size / 64
    ImageDraw.Draw(canvas).polygon([(x * scale, y * scale) for x, y in points], fill=0)
    return (np.asarray(canvas) > 127).astype(np.float32)


def half(size, side):
    mask = np.ones((size, size), np.float32)
    h = size // 2
    region = {"left": np.s_[:, :h], "right": np.s_[:, h:], "top": np.s_[:h, :], "bottom": np.s_[h:, :]}[side]
    mask[region] = 0
    return mask


def strokes(size, rng):
    """Brush strokes as a user paints them over a face: one to four strokes, each a
    polyline of two to four segments (an eighth to a third of the crop long) drawn with a
    round brush 8% to 18% of the crop wide, starting in the crop's middle 70%. Covers 5% to 45%
    of the crop (a fifth in the median)."""
    canvas = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(1, 5)):
        width = rng.uniform(0.08, 0.18) * size
        points = [rng.uniform(0.15, 0.85, 2) * size]
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(rng.integers(2, 5)):
            angle += rng.uniform(-1.2, 1.2)
            step = rng.uniform(0.12, 0.35) * size
            points.append(np.clip(points[-1] + step * np.array([np.cos(angle), np.sin(angle)]), 0, size - 1))
        draw.line([tuple(p) for p in points], fill=0, width=max(1, round(width)), joint="curve")
        for x, y in (points[0], points[-1]):  # round ends, as a brush leaves them
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
    return (np.asarray(canvas) > 127).astype(np.float32)


RANDOM_MASKS = ("random", "strokes")  # drawn anew for each image (from a seed)


def make_mask(mask_type, size, center_scale=0.25, fraction_masked=0.75, rng=None):
    """One mask of a named type. `random` and `strokes` draw from rng (default: seed 0)."""
    if mask_type == "center":
        return center(size, center_scale)
    if mask_type in ("left", "right", "top", "bottom"):
        return half(size, mask_type)
    if mask_type == "checkboard":
        return checkboard(size)
    if mask_type == "freehand_poly":
        return polygon(size, FREEHAND_POLYGON)
    if mask_type == "full":
        return np.ones((size, size), np.float32)
    if mask_type == "grid":
        mask = np.zeros((size, size), np.float32)
        mask[::4, ::4] = 1
        return mask
    if mask_type in RANDOM_MASKS:
        rng = rng if rng is not None else np.random.default_rng(0)
        if mask_type == "strokes":
            return strokes(size, rng)
        return (rng.random((size, size)) >= fraction_masked).astype(np.float32)
    raise UserError(f"unknown --maskType {mask_type}: use one of {', '.join(MASK_TYPES)}")


def mask_of_image(im):
    """A mask from a PIL image of it: white (the mean grey > 127) = known, black = hole."""
    return (np.asarray(im.convert("L")) > 127).astype(np.float32)


def load_mask(path, size=None):
    """A user's mask image: white (> 127) = known, black = hole. If size is given the file
    must be size x size."""
    try:
        with Image.open(path) as im:
            mask = mask_of_image(im)
    except (OSError, SyntaxError) as error:
        raise UserError(f"cannot read mask file {path} ({error}): give a PNG, white = keep, black = fill")
    if size is not None and mask.shape != (size, size):
        raise UserError(f"mask file {path} is {mask.shape[1]}x{mask.shape[0]} but the model is "
                        f"{size}x{size}: resize the mask to {size}x{size}")
    if mask.all():
        raise UserError(f"mask file {path} has no hole (all white): paint the region to fill black")
    return mask


def temporal_masks(mask_type, size, count, rng):
    """`count` masks of one type, each randomised as in temporal.py of the original:
    center scale ~ U(0.20, 0.30), checkboard tile from {8, 16, 32} (at 64x64, scaled),
    freehand one of four polygons. Other types do not vary. Returns [count, S, S]."""
    masks = []
    for _ in range(count):
        if mask_type == "center":
            masks.append(center(size, rng.uniform(*TEMPORAL_CENTER_SCALES)))
        elif mask_type == "checkboard":
            tile = TEMPORAL_TILES[rng.integers(len(TEMPORAL_TILES))]
            masks.append(checkboard(size, max(1, tile * size // 64)))
        elif mask_type == "freehand_poly":
            masks.append(polygon(size, TEMPORAL_POLYGONS[rng.integers(len(TEMPORAL_POLYGONS))]))
        else:
            masks.append(make_mask(mask_type, size, rng=rng))
    return np.stack(masks)


def moving(size, frames, scale=0.4):
    """A square hole of side scale * size sliding across the middle of the face, from the
    left edge to the right over `frames` frames (an occluder crossing a video): [T, S, S]."""
    side = max(1, int(round(scale * size)))
    top = (size - side) // 2
    lefts = np.round(np.linspace(0, size - side, frames)).astype(int)
    masks = np.ones((frames, size, size), np.float32)
    for mask, left in zip(masks, lefts):
        mask[top:top + side, left:left + side] = 0.0
    return masks


def masks_for(count, size, mask_type="center", center_scale=0.25, fraction_masked=0.75, mask_file=None, seed=0):
    """The masks of the correctness experiment, [count, S, S]: the user's mask file, or one
    mask of mask_type for every image (`random` and `strokes` draw a new one per image,
    image i's from (seed, i) alone, so a face gets its mask whatever the count)."""
    if mask_file:
        return np.repeat(load_mask(mask_file, size)[None], count, axis=0)
    if mask_type in RANDOM_MASKS:
        return np.stack([make_mask(mask_type, size, fraction_masked=fraction_masked,
                                   rng=np.random.default_rng([seed, i])) for i in range(count)])
    return np.repeat(make_mask(mask_type, size, center_scale)[None], count, axis=0)
