"""Faces in photos: robust image loading, dlib detection and landmarks, the clamped crop.

A face becomes a `Face`: the crop resized to size x size, its keypoint map drawn from the
landmarks in crop coordinates (so the map colours are exact), the landmarks and the box.
"""
import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facedata.keypoints import draw_keypoint_map
from utils import UserError

MIN_IMAGE_SIDE = 32   # below this dlib cannot find a face; such files are skipped
MIN_BOX_SIDE = 8      # a clamped box this thin is a face mostly outside the photo
PREDICTOR_NAME = "shape_predictor_68_face_landmarks.dat"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class Skip(Exception):
    """This input yields no face; the message is the reason, counted in the summary."""

    def __init__(self, reason, detail=""):
        super().__init__(f"{reason}{': ' + detail if detail else ''}")
        self.reason = reason


@dataclass
class Face:
    image: np.ndarray         # uint8 [S, S, 3]
    keypoint_map: np.ndarray  # uint8 [S, S, 3]
    landmarks: np.ndarray     # float32 [68, 2], (x, y) in crop pixels
    box: tuple                # (left, top, right, bottom) in the photo, clamped, right/bottom exclusive
    source: str
    mask: np.ndarray = None   # [S, S], 1 = known: the crop's holes, for a face of a damaged photo


def list_images(folder):
    """Image files of a folder (recursively), sorted. Raises UserError if there are none."""
    if not os.path.isdir(folder):
        raise UserError(f"input folder {folder} does not exist: put your photos there or pass "
                        "--input_dir (or use --synthetic N for built-in synthetic faces)")
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                   for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}: add photos or "
                        "pass another --input_dir (or use --synthetic N)")
    return files


def load_rgb(path):
    """Read any photo (a path, a file object or an opened PIL image) as uint8 RGB [H, W, 3],
    upright per its EXIF orientation.

    Grayscale and palette images are expanded, alpha is composited over white, 16- and
    32-bit images are scaled to 8 bits (in float32, in place: a 16-bit photo costs 4 bytes
    a pixel on the way, not 8). Raises Skip for unreadable or tiny files.
    """
    try:
        if isinstance(path, Image.Image):
            im = path
            im.load()
        else:
            with Image.open(path) as im:
                im.load()
        im = ImageOps.exif_transpose(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise Skip("unreadable", f"{type(error).__name__}: {error}")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(im, dtype=np.float32)
        values = values.copy() if not values.flags.writeable else values
        top = 65535.0 if values.max() > 255 else 255.0
        values *= 255.0 / top
        values += 0.5
        np.clip(values, 0, 255, out=values)
        im = Image.fromarray(values.astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        raise Skip("too small", f"{image.shape[1]}x{image.shape[0]} px, need at least "
                                f"{MIN_IMAGE_SIDE} px a side")
    return image


def decode_photo(data, name, max_side, jpeg_pixels, other_pixels):
    """uint8 RGB [H, W, 3] of a photo's bytes, at most max_side a side, decoded within a
    pixel budget: a photo over jpeg_pixels (a JPEG) or other_pixels (any other format) is
    refused from its header; a JPEG is decoded at the smallest of libjpeg's 1/2, 1/4 and 1/8
    scales that keeps max_side, and any photo is box-reduced by a whole factor before it is
    converted, so the conversion works on the small image. Raises UserError (one line)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            pixels, is_jpeg = im.size[0] * im.size[1], im.format == "JPEG"
            budget = jpeg_pixels if is_jpeg else other_pixels
            if pixels > budget:
                raise UserError(f"{name} has {pixels // 10 ** 6} megapixels: use a photo under "
                                f"{budget // 10 ** 6} megapixels{'' if is_jpeg else ' (or a JPEG)'}")
            if is_jpeg:
                im.draft("RGB", (max_side, max_side))
            im.load()
            factor = max(im.size) // max_side
            if factor > 1:
                if im.mode not in ("L", "LA", "I", "F", "RGB", "RGBA", "CMYK"):
                    im = im.convert("I" if im.mode.startswith("I;16") else
                                    "RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
                im = im.reduce(factor)
            photo = load_rgb(im)
    except Image.DecompressionBombError:
        raise UserError(f"{name} has too many megapixels: use a photo under {other_pixels // 10 ** 6} megapixels")
    except Skip as skip:
        raise UserError(f"{name} is not a usable image ({skip.args[0]}): use a JPEG or PNG photo of a face")
    except (OSError, SyntaxError, ValueError) as error:
        raise UserError(f"{name} is not a usable image ({type(error).__name__}): use a JPEG or PNG photo of a face")
    scale = max_side / max(photo.shape[:2])
    if scale < 1:
        photo = np.asarray(Image.fromarray(photo).resize(
            (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), Image.Resampling.LANCZOS))
    return photo


def find_predictor(path=None):
    """Path of the 68-point landmark model: the given one, else the one installed by
    face_recognition_models, else ./shape_predictor_68_face_landmarks.dat."""
    if path:
        if not os.path.isfile(path):
            raise UserError(f"landmark model {path} not found: pass the path of {PREDICTOR_NAME}, "
                            "or omit it to use the one from `pip install face_recognition_models`")
        return path
    try:
        import face_recognition_models
        installed = face_recognition_models.pose_predictor_model_location()
        if os.path.isfile(installed):
            return installed
    except ImportError:
        pass
    if os.path.isfile(PREDICTOR_NAME):
        return PREDICTOR_NAME
    raise UserError(f"no landmark model: `pip install face_recognition_models`, or download "
                    f"{PREDICTOR_NAME} from dlib.net and pass its path")


class FaceFinder:
    """dlib's HOG face detector (1 upsample, as the original) and the 68-point predictor."""

    def __init__(self, predictor_path=None, size=128):
        try:
            import dlib
        except ImportError:
            raise UserError("dlib is not installed: `pip install dlib-bin` (prebuilt) or `pip install dlib`")
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(find_predictor(predictor_path))
        self.size = size

    def boxes(self, image):
        """(left, top, right, bottom) of each face dlib finds, right/bottom exclusive, unclamped."""
        return [box for box, _ in self.scored_boxes(image)]

    def scored_boxes(self, image, threshold=0.0):
        """[(box, score)] of the faces dlib finds scoring at least `threshold` (its default 0;
        below it, faces it is less sure of), boxes as boxes() gives them."""
        rects, scores, _ = self.detector.run(image, 1, threshold)
        return [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), score) for r, score in zip(rects, scores)]

    def landmarks_in_box(self, image, box):
        """[68, 2] landmarks (photo pixels) of the face in box."""
        import dlib
        shape = self.predictor(image, dlib.rectangle(box[0], box[1], box[2] - 1, box[3] - 1))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def landmarks(self, image):
        """[(box, [68, 2] landmarks in photo pixels)] for each face dlib finds."""
        return [(box, self.landmarks_in_box(image, box)) for box in self.boxes(image)]

    def faces(self, image, source=""):
        """All faces of a uint8 RGB photo as Face crops. Raises Skip if there are none."""
        found = self.landmarks(image)
        if not found:
            raise Skip("no face")
        faces = [crop_face(image, box, points, self.size, source) for box, points in found]
        faces = [f for f in faces if f is not None]
        if not faces:
            raise Skip("face outside the photo")
        return faces

    def faces_in_file(self, path):
        return self.faces(load_rgb(path), source=path)


def clamp_box(box, width, height):
    """dlib boxes can reach past the photo (negative corners); the original cropped with
    them unclamped, which wrapped numpy slices round. Clamp to the photo."""
    left, top, right, bottom = box
    return max(0, left), max(0, top), min(width, right), min(height, bottom)


def usable_boxes(boxes, width, height):
    """The face boxes clamped to a width x height photo, without those under MIN_BOX_SIDE
    pixels on a side once clamped (faces mostly outside the photo, or too small to crop)."""
    clamped = [clamp_box(b, width, height) for b in boxes]
    return [b for b in clamped if min(b[2] - b[0], b[3] - b[1]) >= MIN_BOX_SIDE]


def largest_box(boxes):
    """The one face a photo (or a video's first frame) is about: the largest box."""
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


def crop_pixels(image, box, size):
    """uint8 [size, size, 3]: the (clamped) box of the image, resized bicubically."""
    left, top, right, bottom = box
    return np.asarray(Image.fromarray(image[top:bottom, left:right]).resize((size, size), Image.Resampling.BICUBIC),
                      dtype=np.uint8)


def crop_face(image, box, landmarks, size, source=""):
    """Crop the clamped box, resize to size x size, move the landmarks into the crop and
    draw the keypoint map there. Returns None if the clamped box is degenerate."""
    box = clamp_box(box, image.shape[1], image.shape[0])
    if box[2] - box[0] < MIN_BOX_SIDE or box[3] - box[1] < MIN_BOX_SIDE:
        return None
    points = to_crop(landmarks, box, size)
    return Face(crop_pixels(image, box, size), draw_keypoint_map(points, size), points, box, source)


def to_crop(landmarks, box, size):
    """Photo pixels to pixels of the box's size x size crop, float32 [68, 2]. Pixel centres:
    photo x maps to (x + 0.5 - left) * size / width - 0.5."""
    left, top, right, bottom = box
    scale = np.array([size / (right - left), size / (bottom - top)], dtype=np.float32)
    return ((np.asarray(landmarks, np.float32) + 0.5 - [left, top]) * scale - 0.5).astype(np.float32)
