"""Synthetic faces with known landmarks: the project's built-in data set.

Each face starts from a frontal template of the 68 dlib/iBUG landmarks, placed in the
frame of a face crop as dlib would cut it (brows near the top, chin near the bottom).
Geometry (pose, expression, face shape) and appearance (skin, hair, background, lighting,
eye colour) are drawn from two independent random streams, so one can hold either fixed:
that is what the "same map, different z" and "same z, different map" figures need.

Everything is deterministic in (seed, index): face i of a seed is the same whichever
process renders it and however many faces come before it. Clips (`synthetic_clip`) are
videos of one identity moving smoothly, from the same generator, so a model trained on the
still faces meets the same faces in motion.

    python -c "from facedata import synthetic; synthetic.preview('synthetic.png')"
"""
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from facedata.keypoints import convex_hull, draw_keypoint_map

SUPERSAMPLE = 3  # faces are drawn at 3x and reduced, which anti-aliases their edges


def _template():
    """Frontal landmarks in unit crop coordinates (x right, y down), dlib order."""
    pts = np.zeros((68, 2))
    phi = np.linspace(0.0, np.pi, 17)
    # Jaw 0-16, from the subject's right ear (image left) round the chin; a squarish curve.
    pts[0:17, 0] = 0.5 - 0.44 * np.cos(phi)
    pts[0:17, 1] = 0.34 + 0.62 * np.sin(phi) ** 0.8
    brow = np.linspace(0.0, 1.0, 5)
    pts[17:22, 0] = 0.16 + 0.26 * brow
    pts[17:22, 1] = 0.25 - 0.06 * np.sin(np.pi * (0.15 + 0.85 * brow))
    pts[22:27, 0] = 1.0 - pts[21:16:-1, 0]
    pts[22:27, 1] = pts[21:16:-1, 1]
    pts[27:31, 0] = 0.5
    pts[27:31, 1] = np.linspace(0.31, 0.55, 4)
    pts[31:36, 0] = np.linspace(0.41, 0.59, 5)
    pts[31:36, 1] = [0.60, 0.615, 0.625, 0.615, 0.60]
    # Eyes: corner, two upper lid points, corner, two lower lid points.
    eye = np.array([[-1.0, 0.0], [-0.4, -0.75], [0.4, -0.75], [1.0, 0.0], [0.4, 0.6], [-0.4, 0.6]])
    pts[36:42] = np.array([0.315, 0.355]) + eye * [0.085, 0.045]
    pts[42:48] = np.array([0.685, 0.355]) + eye * [0.085, 0.045]
    # Mouth, outer 48-59 from the right corner over the upper lip, inner 60-67 likewise.
    pts[48:60] = [[0.355, 0.775], [0.40, 0.745], [0.455, 0.73], [0.5, 0.738], [0.545, 0.73],
                  [0.60, 0.745], [0.645, 0.775], [0.60, 0.81], [0.55, 0.825], [0.5, 0.828],
                  [0.45, 0.825], [0.40, 0.81]]
    pts[60:68] = [[0.37, 0.776], [0.45, 0.765], [0.5, 0.768], [0.55, 0.765], [0.63, 0.776],
                  [0.55, 0.782], [0.5, 0.784], [0.45, 0.782]]
    return pts


TEMPLATE = _template()
UPPER_LIP = [48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]
LOWER_LIP = [54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64]


@dataclass(frozen=True)
class Appearance:
    """Everything about a face that is not its landmarks."""
    skin: tuple
    hair: tuple
    iris: tuple
    lips: tuple
    background_top: tuple
    background_bottom: tuple
    light: tuple          # (dx, dy) direction of the key light, unit length
    light_strength: float
    hair_length: float    # how far down the sides hair falls, in crop heights
    fringe: float         # how far the hair comes down the forehead, 0 top, 1 brows


@dataclass(frozen=True)
class Geometry:
    """The numbers that place a face's landmarks: shape (width, eye spacing), expression
    (brows, each eye's openness, smile, mouth opening) and pose (yaw, pitch, roll in
    degrees, scale, shift). pitch 0 is the still faces' (they have no nod)."""
    width: float
    spacing: float
    brow: float
    eyes: tuple
    smile: float
    opening: float
    yaw: float
    roll: float
    scale: float
    shift: tuple
    pitch: float = 0.0


def draw_geometry(rng):
    """A random Geometry (in the draw order the data sets were made with)."""
    width, spacing, brow = rng.uniform(0.88, 1.08), rng.uniform(-0.03, 0.03), rng.uniform(-0.015, 0.04)
    eyes = (rng.uniform(0.35, 1.3), rng.uniform(0.35, 1.3))
    smile = rng.uniform(-0.3, 1.0)
    opening = rng.uniform(0.0, 0.09) if rng.random() < 0.5 else 0.0
    yaw, roll, scale = rng.uniform(-0.35, 0.35), rng.uniform(-12.0, 12.0), rng.uniform(0.9, 1.08)
    return Geometry(width, spacing, brow, eyes, smile, opening, yaw, roll, scale, tuple(rng.uniform(-0.04, 0.04, 2)))


def express(points, brow=0.0, eyes=(1.0, 1.0), smile=0.0, opening=0.0):
    """68 landmarks in unit crop coordinates with an expression: brows raised by `brow`,
    each eye's height scaled by its openness (about 0: closed, 1: as drawn), the mouth
    widened and its corners lifted by `smile` (-0.3 to 1), the lower lip and chin lowered
    by `opening` (0 to about 0.1). The synthetic faces are drawn with it, and the page
    (app.py) edits any face's landmarks with it. Returns a new array."""
    pts = np.array(points, np.float64)
    pts[17:27, 1] -= brow
    for eye, openness in zip((slice(36, 42), slice(42, 48)), eyes):
        middle = pts[eye, 1].mean()
        pts[eye, 1] = middle + (pts[eye, 1] - middle) * openness
    mouth_centre = pts[48:68].mean(axis=0)
    offset = pts[48:68, 0] - mouth_centre[0]
    pts[48:68, 0] = mouth_centre[0] + offset * (1.0 + 0.12 * max(smile, 0.0))
    pts[48:68, 1] -= 0.035 * smile * (offset / 0.145) ** 2
    lower = [55, 56, 57, 58, 59, 65, 66, 67]
    pts[lower, 1] += opening
    pts[0:17, 1] += opening * np.sin(np.linspace(0.0, np.pi, 17)) ** 4 * 0.6
    return pts


def place_landmarks(g):
    """68 landmarks in unit crop coordinates: the template moved by a Geometry."""
    pts = TEMPLATE.copy()
    centre = np.array([0.5, 0.55])
    # Shape: face width and eye spacing.
    pts[:, 0] = 0.5 + (pts[:, 0] - 0.5) * g.width
    pts[36:42, 0] -= g.spacing
    pts[42:48, 0] += g.spacing
    pts = express(pts, g.brow, g.eyes, g.smile, g.opening)
    # Yaw-like turn: the side turning away is squeezed and the midline moves towards it.
    x = pts[:, 0] - 0.5
    pts[:, 0] = 0.5 + x * (1.0 - g.yaw * np.sign(x) * 0.6) - 0.08 * g.yaw * (1.0 - 4 * x ** 2)
    if g.pitch:  # a nod, the same way: the half tipping away is squeezed, the middle moves
        y = pts[:, 1] - centre[1]
        pts[:, 1] = centre[1] + y * (1.0 - g.pitch * np.sign(y) * 0.4) - 0.06 * g.pitch * (1.0 - 4 * y ** 2)
    # Pose in the image plane: roll, scale, shift.
    angle = np.deg2rad(g.roll)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (pts - centre) @ rotation.T * g.scale + centre + np.asarray(g.shift)


def sample_geometry(rng):
    """68 landmarks in unit crop coordinates: template + random shape, expression and pose."""
    return place_landmarks(draw_geometry(rng))


def sample_appearance(rng):
    tone = rng.uniform(0.0, 1.0)
    skin = np.array([236, 200, 170]) * (1 - tone) + np.array([120, 80, 55]) * tone
    skin = skin * rng.uniform(0.93, 1.07, size=3)
    hair_palettes = ([30, 22, 18], [80, 50, 30], [150, 105, 60], [210, 175, 110],
                     [120, 40, 20], [140, 140, 140])
    hair = np.array(hair_palettes[rng.integers(len(hair_palettes))]) * rng.uniform(0.8, 1.2, 3)
    iris_palettes = ([60, 40, 25], [70, 110, 150], [80, 110, 60], [40, 30, 25])
    iris = np.array(iris_palettes[rng.integers(len(iris_palettes))])
    lips = skin * np.array([0.85, 0.55, 0.55]) * rng.uniform(0.9, 1.1)
    background = rng.uniform(30, 230, size=3)
    theta = rng.uniform(0, 2 * np.pi)

    def colour(c):
        return tuple(int(v) for v in np.clip(c, 0, 255))

    return Appearance(
        skin=colour(skin), hair=colour(hair), iris=colour(iris), lips=colour(lips),
        background_top=colour(background), background_bottom=colour(background * rng.uniform(0.5, 1.0)),
        light=(float(np.cos(theta)), float(np.sin(theta))),
        light_strength=float(rng.uniform(0.1, 0.35)),
        hair_length=float(rng.uniform(0.2, 1.1)), fringe=float(rng.uniform(0.25, 0.8)))


def _forehead(pts):
    """Points closing the face outline over the brows (the landmarks stop at the brows)."""
    left, right = pts[0], pts[16]
    centre = (left + right) / 2
    up = pts[27] - pts[8]
    up = up / np.linalg.norm(up)
    half_width = np.linalg.norm(right - left) / 2
    angles = np.linspace(0.0, np.pi, 15)
    across = (right - left) / (2 * half_width)
    return centre + np.outer(np.cos(angles), across) * half_width \
        + np.outer(np.sin(angles), up) * half_width * 1.05


def render_face(landmarks, appearance, size):
    """Draw a face whose landmarks are landmarks * size. Returns uint8 [size, size, 3]."""
    big = size * SUPERSAMPLE
    pts = np.asarray(landmarks, dtype=np.float64) * big
    a = appearance

    def poly(indices):
        return [tuple(p) for p in pts[list(indices)]]

    # Background: a vertical gradient.
    ramp = np.linspace(0.0, 1.0, big)[:, None, None]
    image = np.array(a.background_top) * (1 - ramp) + np.array(a.background_bottom) * ramp
    canvas = Image.fromarray(np.broadcast_to(image, (big, big, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)

    outline = np.concatenate([pts[0:17], _forehead(pts)[1:-1]])
    width = np.linalg.norm(pts[16] - pts[0])
    # Hair behind the head: the outline grown outwards, extended down the sides.
    centre = outline.mean(axis=0)
    hair_back = centre + (outline - centre) * 1.12
    hair_back[:, 1] = np.where(hair_back[:, 1] > centre[1],
                               np.minimum(hair_back[:, 1], centre[1] + a.hair_length * big),
                               hair_back[:, 1] - 0.04 * big)
    draw.polygon([tuple(p) for p in convex_hull(hair_back)], fill=a.hair)

    # Skin with shading: directional light plus darkening towards the outline (roundness).
    face_mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(face_mask).polygon([tuple(p) for p in outline], fill=255)
    soft = np.asarray(face_mask.filter(ImageFilter.GaussianBlur(float(width * 0.12))), np.float32) / 255
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
    direction = ((xx - centre[0]) * a.light[0] + (yy - centre[1]) * a.light[1]) / (width / 2)
    shade = (1.0 + a.light_strength * np.clip(direction, -1, 1)) * (0.72 + 0.28 * soft)
    skin = np.clip(np.array(a.skin, np.float32) * shade[..., None], 0, 255).astype(np.uint8)
    canvas.paste(Image.fromarray(skin), (0, 0), face_mask)
    draw = ImageDraw.Draw(canvas)

    # Hair over the top of the forehead, down to a fraction of the way to the brows.
    top = _forehead(pts)
    crown = max(top[:, 1].min(), 0.0)
    limit = crown + (pts[17:27, 1].min() - crown) * a.fringe
    cap = top.copy()
    cap[:, 1] = np.minimum(cap[:, 1], limit)
    draw.polygon([tuple(p) for p in cap], fill=a.hair)

    dark = tuple(int(c * 0.55) for c in a.skin)
    # Nose: a shadowed side of the bridge, the tip, nostrils.
    draw.line(poly(range(27, 31)), fill=dark, width=max(1, int(big * 0.012)))
    nostril = big * 0.012
    for i in (32, 34):
        x, y = pts[i]
        draw.ellipse([x - nostril, y - nostril * 0.7, x + nostril, y + nostril * 0.7],
                     fill=tuple(int(c * 0.35) for c in a.skin))
    draw.line(poly(range(31, 36)), fill=dark, width=max(1, int(big * 0.006)))

    # Eyes: white, iris clipped to the lids, a dark lid line.
    for eye in (range(36, 42), range(42, 48)):
        lids = poly(eye)
        eye_mask = Image.new("L", (big, big), 0)
        ImageDraw.Draw(eye_mask).polygon(lids, fill=255)
        layer = Image.new("RGB", (big, big), (235, 235, 230))
        centre_eye = pts[list(eye)].mean(axis=0)
        radius = np.linalg.norm(pts[eye[3]] - pts[eye[0]]) * 0.28
        ImageDraw.Draw(layer).ellipse([*(centre_eye - radius), *(centre_eye + radius)], fill=a.iris)
        ImageDraw.Draw(layer).ellipse([*(centre_eye - radius * 0.45),
                                       *(centre_eye + radius * 0.45)], fill=(15, 15, 15))
        canvas.paste(layer, (0, 0), eye_mask)
        draw.line(lids[:4], fill=(40, 30, 25), width=max(1, int(big * 0.01)))

    # Brows.
    for brow in (range(17, 22), range(22, 27)):
        draw.line(poly(brow), fill=tuple(int(c * 0.7) for c in a.hair),
                  width=max(1, int(big * 0.035)), joint="curve")

    # Lips, the open mouth and teeth.
    draw.polygon(poly(range(60, 68)), fill=(60, 20, 25))
    opening = pts[66, 1] - pts[62, 1]
    if opening > big * 0.02:
        teeth = pts[[60, 61, 62, 63, 64]].copy()
        draw.polygon([tuple(p) for p in np.concatenate([teeth, teeth[::-1] + [0, opening * 0.35]])],
                     fill=(230, 225, 215))
    draw.polygon(poly(UPPER_LIP), fill=a.lips)
    draw.polygon(poly(LOWER_LIP), fill=tuple(min(255, int(c * 1.1)) for c in a.lips))

    canvas = canvas.filter(ImageFilter.GaussianBlur(SUPERSAMPLE * 0.4))
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def synthetic_face(seed, index, size=128):
    """Face `index` of data set `seed`: (image uint8 [S,S,3], keypoint map, landmarks [68,2] px)."""
    geometry = sample_geometry(np.random.default_rng([seed, index, 0]))
    appearance = sample_appearance(np.random.default_rng([seed, index, 1]))
    landmarks = geometry * size
    return render_face(geometry, appearance, size), draw_keypoint_map(landmarks, size), landmarks


def clip_geometries(seed, clip, frames):
    """The Geometry of each frame of clip `clip`: one face shape, moving smoothly. The head
    turns and nods (slow sines), rolls a little and drifts; the eyes blink once or twice
    (a few frames each); the mouth talks (opening and closing a few times). Deterministic in
    (seed, clip, frames)."""
    rng = np.random.default_rng([seed, clip, 2])
    base = draw_geometry(rng)
    t = np.arange(frames) / max(frames - 1, 1)

    def wave(amplitude, low, high):
        return amplitude * np.sin(2 * np.pi * rng.uniform(low, high) * t + rng.uniform(0, 2 * np.pi))

    yaw = np.clip(0.5 * base.yaw + wave(0.22, 0.4, 1.0), -0.35, 0.35)
    pitch = wave(0.2, 0.4, 1.2)
    roll = base.roll * 0.5 + wave(5.0, 0.3, 0.8)
    drift = np.stack([wave(0.02, 0.2, 0.6), wave(0.02, 0.2, 0.6)], axis=1)
    blinks = rng.uniform(0.1, 0.9, size=rng.integers(1, 3))
    closed = np.max(np.exp(-((t[:, None] - blinks[None]) * frames / 1.5) ** 2), axis=1)  # ~3 frames
    talking = 0.04 * (1 - np.cos(2 * np.pi * rng.uniform(2.0, 4.0) * t + rng.uniform(0, 2 * np.pi)))
    return [Geometry(base.width, base.spacing, base.brow, tuple(e * (1 - 0.85 * closed[i]) for e in base.eyes),
                     base.smile * 0.5, float(talking[i]), float(yaw[i]), float(roll[i]), base.scale,
                     tuple(np.asarray(base.shift) * 0.5 + drift[i]), float(pitch[i])) for i in range(frames)]


def synthetic_clip(seed, clip, frames=32, size=64):
    """Clip `clip` of set `seed`: one identity (one appearance, one face shape) over `frames`
    frames of smooth head and face motion. Returns (frames uint8 [T, S, S, 3], keypoint
    maps uint8 [T, S, S, 3], landmarks [T, 68, 2] in pixels): the ground truth of a video."""
    appearance = sample_appearance(np.random.default_rng([seed, clip, 1]))
    images, maps, points = [], [], []
    for geometry in clip_geometries(seed, clip, frames):
        landmarks = place_landmarks(geometry)
        images.append(render_face(landmarks, appearance, size))
        maps.append(draw_keypoint_map(landmarks * size, size))
        points.append(landmarks * size)
    return np.stack(images), np.stack(maps), np.stack(points)


def preview(path, seed=0, count=16, size=128):
    """Write a strip of faces above their keypoint maps, for a quick look."""
    faces = [synthetic_face(seed, i, size) for i in range(count)]
    top = np.concatenate([f[0] for f in faces], axis=1)
    bottom = np.concatenate([f[1] for f in faces], axis=1)
    Image.fromarray(np.concatenate([top, bottom], axis=0)).save(path)
