"""Keypoint maps: the conditioning signal of the paper, drawn from 68 dlib landmarks.

One definition of the colours and the region order (docs/spec.md section 1). Maps are drawn
directly in the coordinates of the output crop, without anti-aliasing, so every pixel
holds exactly one of the listed colours whatever the crop size or position.
"""
import numpy as np
from PIL import Image, ImageDraw

NUM_LANDMARKS = 68
BACKGROUND = (10, 10, 10)
FACE = (245, 245, 245)
JAW = (199, 71, 133)

# (name, landmark indices, colour), drawn in this order: later regions paint over earlier
# ones. The original's nose range stopped at 34; point 35 (the left nostril) belongs to it.
REGIONS = (
    ("mouth", range(48, 68), (245, 10, 10)),
    ("right_eyebrow", range(17, 22), (10, 245, 245)),
    ("left_eyebrow", range(22, 27), (70, 245, 245)),
    ("right_eye", range(36, 42), (10, 10, 245)),
    ("left_eye", range(42, 48), (10, 10, 245)),
    ("nose", range(27, 36), (245, 245, 10)),
)
JAW_POINTS = range(0, 17)
PALETTE = (BACKGROUND, FACE, JAW) + tuple(colour for _, _, colour in REGIONS)


def convex_hull(points):
    """Convex hull of [N, 2] points, counter-clockwise (Andrew's monotone chain).

    Unlike Qhull this never fails on degenerate input (a closed eye is a line).
    """
    pts = sorted(set(map(tuple, np.asarray(points, dtype=np.float64).tolist())))
    if len(pts) <= 2:
        return np.array(pts, dtype=np.float64).reshape(-1, 2)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(sequence):
        chain = []
        for p in sequence:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(reversed(pts))
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def jaw_width(size):
    """Jaw polyline width: 2 px at 128x128, scaled with the map size, at least 1."""
    return max(1, int(round(2 * size / 128)))


def draw_keypoint_map(landmarks, size):
    """Render the colour keypoint map of one face.

    landmarks: [68, 2] (x, y) in pixel coordinates of the size x size crop (points may
    lie outside it; drawing clips). Returns uint8 [size, size, 3].
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"expected landmarks of shape (68, 2), got {landmarks.shape}")
    canvas = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    def fill(indices, colour):
        hull = [tuple(p) for p in convex_hull(landmarks[list(indices)])]
        if len(hull) >= 3:
            draw.polygon(hull, fill=colour, outline=colour)
        else:  # a collapsed region (a closed eye) still shows as a line or a dot
            draw.line(hull + hull[:1], fill=colour)

    fill(range(NUM_LANDMARKS), FACE)
    for _, indices, colour in REGIONS:
        fill(indices, colour)
    draw.line([tuple(p) for p in landmarks[list(JAW_POINTS)]], fill=JAW,
              width=jaw_width(size))
    return np.asarray(canvas, dtype=np.uint8)
