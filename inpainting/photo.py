"""Inpainting a user's own photo: find the face, damage it with the mask, take the landmarks
of the damaged face (an honest input: the clean photo is unknown in practice; what dlib
cannot see is estimated, damaged_landmarks), inpaint the face crop by latent search, blend,
and paste the fill back into the full photo, blended again at the photo's own resolution
(paste_face), which photos, videos and the page share.
"""
import dataclasses
import math
import os

import numpy as np
from PIL import Image
from scipy import ndimage

from core.configs import KEYPOINT_SOURCES
from facedata.faces import MIN_BOX_SIDE, Face, FaceFinder, Skip, crop_pixels, largest_box, load_rgb, to_crop, usable_boxes
from facedata.keypoints import draw_keypoint_map
from facedata.shape import Estimate, estimate_landmarks, load_face_prior
from inpainting import masks as mask_lib
from inpainting.blend import poisson_blend
from inpainting.inpaint import search_all
from utils import UserError, from_uint8, save_image, to_uint8

BICUBIC_RADIUS = 2  # PIL's bicubic filter reaches 2 source pixels, times the reduction factor


def known_in_crop(photo_mask, box, size):
    """[size, size] mask of the crop pixels that are truly known: 1 only where the whole
    bicubic footprint of the crop pixel lies in known photo pixels. The crop is resampled
    from the damaged photo, so a pixel next to the hole mixes in the zeroed hole; calling it
    known (as a nearest-neighbour resize of the mask would) puts darkened pixels into the
    context loss and the Poisson boundary."""
    left, top, right, bottom = box
    region = photo_mask[top:bottom, left:right] > 0.5
    reach = [math.ceil(BICUBIC_RADIUS * max(side / size, 1.0)) + 1 for side in (bottom - top, right - left)]
    safe = ndimage.binary_erosion(region, np.ones([2 * r + 1 for r in reach], bool), border_value=1)
    return (np.asarray(Image.fromarray(safe.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST))
            > 127).astype(np.float32)


def hole_in_crop(photo_mask, box, size):
    """[size, size] mask (1 = known) of the box of a photo mask, resized nearest-neighbour:
    where the hole lies in the crop, for telling which landmarks it hides."""
    left, top, right, bottom = box
    region = (photo_mask[top:bottom, left:right] > 0.5).astype(np.uint8) * 255
    return (np.asarray(Image.fromarray(region).resize((size, size), Image.Resampling.NEAREST)) > 127).astype(
        np.float32)


def damage(photo, finder, size, mask_file=None, mask_type="center", center_scale=0.25, fraction_masked=0.75,
           name="the photo"):
    """(damaged photo, photo mask [H, W], face box): the user's mask over the whole photo, or
    mask_type drawn on the face box dlib finds."""
    height, width = photo.shape[:2]
    if mask_file:
        photo_mask = mask_lib.load_mask(mask_file)
        if photo_mask.shape != (height, width):
            raise UserError(f"mask file {mask_file} is {photo_mask.shape[1]}x{photo_mask.shape[0]} but "
                            f"{name} is {width}x{height}: draw the mask over the photo at its size")
        damaged = (photo * photo_mask[..., None]).astype(np.uint8)
        return damaged, photo_mask, the_face(damaged_boxes(finder, damaged, photo_mask), width, height, name,
                                             " once masked: use a smaller mask or --maskType on the face box",
                                             photo_mask)
    box = the_face(finder.boxes(photo), width, height, name, ": use a photo with a frontal face")
    photo_mask = mask_on_box(mask_lib.make_mask(mask_type, size, center_scale, fraction_masked), box, height, width)
    return (photo * photo_mask[..., None]).astype(np.uint8), photo_mask, box


BLACK = 10  # a damaged photo's holes: no brighter than this in every channel (photo.black_holes)


def black_holes(image, min_area):
    """[H, W] mask (1 = known) of an image's black holes: pixels at most BLACK in every
    channel, in connected regions of at least min_area pixels (not a pupil or a dark pixel),
    grown by a pixel for the resampling or compression at their edges. Where the damage of
    a face that came damaged most often is (the black of this project's own damaged photos);
    a black background or shadow is found too, so the page shows it for the user to erase."""
    black = (np.asarray(image) <= BLACK).all(axis=-1)
    labels, count = ndimage.label(black)
    areas = ndimage.sum(black, labels, index=np.arange(1, count + 1))
    holes = np.isin(labels, 1 + np.flatnonzero(areas >= min_area))
    return 1.0 - ndimage.binary_dilation(holes).astype(np.float32)


def smoothly_filled(photo, photo_mask):
    """uint8 photo with its holes (photo_mask 0) filled by the smoothest surface that meets
    the pixels around them (Laplace's equation: Poisson blending with a flat guidance)."""
    rows, cols = np.nonzero(np.asarray(photo_mask) < 0.5)
    filled = photo.copy()
    if not len(rows):
        return filled
    # Only the holes' bounding box and a pixel around it: the system's size is the holes', not the photo's.
    y0, x0 = max(rows.min() - 1, 0), max(cols.min() - 1, 0)
    y1, x1 = min(rows.max() + 2, photo.shape[0]), min(cols.max() + 2, photo.shape[1])
    region = from_uint8(photo[y0:y1, x0:x1])[None]
    smooth = poisson_blend(region, np.zeros_like(region), photo_mask[None, y0:y1, x0:x1], solver=PHOTO_BLEND_SOLVER)
    filled[y0:y1, x0:x1] = to_uint8(smooth[0])
    return filled


# A hole over a face lowers dlib's score of it; once the hole is smoothly filled, a face the
# hole reaches into is taken down to this score (the astronaut under a center hole: -0.4).
DAMAGED_FACE_THRESHOLD = -0.5


def damaged_boxes(finder, damaged, photo_mask, threshold=DAMAGED_FACE_THRESHOLD):
    """dlib's face boxes in a damaged photo: those it finds as it is, and where it has holes
    also those it finds once they are smoothly filled (a black hole's hard edges hide a face
    from dlib's HOG detector more than a smooth patch does), down to `threshold` for a face
    the holes reach into. A face found twice is kept once, as first found."""
    found = finder.boxes(damaged)
    holes = np.asarray(photo_mask) < 0.5
    if not holes.any():
        return found
    for box, score in finder.scored_boxes(smoothly_filled(damaged, photo_mask), threshold):
        reached = holes[max(box[1], 0):max(box[3], 0), max(box[0], 0):max(box[2], 0)].any()
        if (score >= 0 or reached) and not any(overlap(box, other) > 0.5 for other in found):
            found.append(box)
    return found


def overlap(a, b):
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def the_face(found, width, height, name, advice, photo_mask=None):
    """The box of the face to inpaint among dlib's `found`: the largest that is usable
    (faces.usable_boxes), as inpainting/video.py follows, and of a damaged photo (photo_mask
    with holes) the largest the holes reach into: the damage is on the face to fill. One
    clear line when there is none."""
    if not found:
        raise UserError(f"dlib finds no face in {name}{advice}")
    usable = usable_boxes(found, width, height)
    if not usable:
        raise UserError(f"the face dlib finds in {name} is under {MIN_BOX_SIDE} pixels on a side inside the photo: "
                        "use a larger photo, or one with the whole face in it")
    if photo_mask is not None:
        damaged = [b for b in usable if (photo_mask[b[1]:b[3], b[0]:b[2]] < 0.5).any()]
        usable = damaged or usable
    return largest_box(usable)


def mask_on_box(crop_mask, box, height, width):
    """A mask drawn on the face crop, stretched over the face box of a height x width photo:
    [H, W], 1 = known (everything outside the box)."""
    inside = np.asarray(Image.fromarray((crop_mask * 255).astype(np.uint8)).resize(
        (box[2] - box[0], box[3] - box[1]), Image.Resampling.NEAREST)) > 127
    photo_mask = np.ones((height, width), np.float32)
    photo_mask[box[1]:box[3], box[0]:box[2]] = inside
    return photo_mask


# The full-resolution Poisson system of a hole of h x w pixels has h * w unknowns; sparse LU
# (SuperLU, minimum-degree ordering) factorises a 300 x 300 hole in well under a second,
# where the banded Cholesky that suits 64 x 64 crops takes seconds (docs/benchmarks.md).
PHOTO_BLEND_SOLVER = "splu"


def upscaled(face, width, height):
    """float32 [height, width, 3] in [-1, 1]: a [-1, 1] crop resized bicubically, in floating
    point (no rounding to 8 bits before the blend)."""
    channels = [np.asarray(Image.fromarray(np.asarray(face[..., c], np.float32)).resize(
        (width, height), Image.Resampling.BICUBIC)) for c in range(face.shape[-1])]
    return np.stack(channels, axis=-1)


def paste_face(damaged, face, box, photo_mask, blend=True, sharpen=0.0):
    """The damaged photo (uint8 [H, W, 3]) with its hole pixels inside box filled from `face`
    (the filled crop, [-1, 1], S x S); every other pixel stays as it was.

    blend (the default): Poisson blending at the photo's own resolution. The crop resized
    onto the box is the guidance: inside the hole the result takes its gradients, and the
    photo's known pixels around the hole (at full resolution, a pixel beyond the box
    included) are the boundary, so colour and brightness meet the surrounding skin with no
    step. blend=False: the resized crop's pixels copied into the hole (the former paste,
    whose 64-px blend, once upscaled, leaves a visible edge). sharpen: the amount of an
    unsharp mask applied to the upscaled fill at the scale it was upscaled by (0: none; it
    did not measurably help, docs/inpainting.md)."""
    height, width = damaged.shape[:2]
    left, top, right, bottom = box
    hole = photo_mask[top:bottom, left:right] < 0.5
    result = damaged.copy()
    if not hole.any():
        return result
    fill = upscaled(face, right - left, bottom - top)
    if sharpen:
        sigma = (right - left) / face.shape[1] / 2
        fill = fill + sharpen * (fill - ndimage.gaussian_filter(fill, sigma=(sigma, sigma, 0)))
    if not blend:
        result[top:bottom, left:right][hole] = to_uint8(fill)[hole]
        return result
    # The region: the box and one pixel around it, so a hole reaching the box's edge has
    # known neighbours; the guidance there is the fill's edge, repeated.
    x0, y0, x1, y1 = max(left - 1, 0), max(top - 1, 0), min(right + 1, width), min(bottom + 1, height)
    known = np.ones((y1 - y0, x1 - x0), np.float32)
    known[top - y0:bottom - y0, left - x0:right - x0] = ~hole
    guidance = np.pad(fill, ((top - y0, y1 - bottom), (left - x0, x1 - right), (0, 0)), mode="edge")
    region = from_uint8(damaged[y0:y1, x0:x1])
    blended = poisson_blend(region[None], guidance[None], known[None], solver=PHOTO_BLEND_SOLVER)[0]
    inside = known < 0.5
    result[y0:y1, x0:x1][inside] = to_uint8(blended)[inside]
    return result


def damaged_landmarks(finder, damaged, box, photo_mask, size, prior):
    """The 68 landmarks (pixels of the box's size x size crop) of the face in box of a
    damaged photo, as a shape.Estimate. dlib's predictor reads the pixels around each point,
    so on a black hole it drifts; the hole is first filled with the mean training face
    (prior.mean_face), Poisson-blended at the photo's resolution so that dlib sees a whole
    face in the photo's colours; then the points dlib finds clear of the hole are kept and
    the others replaced by the shape model's estimate given them (shape.estimate_landmarks;
    docs/inpainting.md compares this with dlib on the damaged photo and with other
    estimates). A face with no hole in its box gets dlib's points unchanged."""
    crop_hole = hole_in_crop(photo_mask, box, size)
    looked_at = damaged if crop_hole.all() else paste_face(damaged, prior.mean_face, box, photo_mask)
    points = to_crop(finder.landmarks_in_box(looked_at, box), box, size)
    return estimate_landmarks(points, crop_hole, prior.shape_model)


def face_landmarks(keypoints, finder, photo, damaged, box, photo_mask, size, prior=None):
    """The landmarks a face's keypoint map is drawn from, as a shape.Estimate, by the source
    `keypoints` (configs.KEYPOINT_SOURCES): "estimate" (damaged_landmarks: what a user has),
    "dlib" (dlib on the damaged photo as it is, hole and all) or "clean" (dlib on the photo
    before the hole was made: the paper's protocol, for measuring)."""
    if keypoints == "estimate":
        return damaged_landmarks(finder, damaged, box, photo_mask, size, prior or load_face_prior())
    if keypoints not in KEYPOINT_SOURCES:
        raise UserError(f"unknown --keypoints {keypoints}: use one of {', '.join(KEYPOINT_SOURCES)}")
    points = finder.landmarks_in_box(photo if keypoints == "clean" else damaged, box)
    return Estimate(to_crop(points, box, size), np.zeros(68, bool))


@dataclasses.dataclass
class PhotoFill:
    """A photo's face inpainted at the model's size, ready to be pasted back."""
    damaged: np.ndarray       # uint8 [H, W, 3], the hole black
    photo_mask: np.ndarray    # [H, W], 1 = known
    box: tuple                # the face's box in the photo
    landmarks: Estimate       # the map's landmarks in crop pixels, and which of them were estimated
    keypoint_map: np.ndarray  # uint8 [S, S, 3], drawn from them
    blended: np.ndarray       # [S, S, 3] in [-1, 1]: the crop, its hole filled and blended at S x S

    def pasted(self, blend=True):
        return paste_face(self.damaged, self.blended, self.box, self.photo_mask, blend=blend)


def inpaint_photo(gan, search, photo, finder, *, name="the photo", keypoints="estimate", prior=None, z_init=None,
                  blend_solver="banded", **mask_settings):
    """Damage a uint8 photo (mask_settings as damage() takes them), draw the keypoint map from
    the landmarks of `keypoints` (face_landmarks; prior: the shape model and mean face, default
    the shipped ones), inpaint the face crop by a search of batch size 1 and blend it at the
    model's size. Returns a PhotoFill."""
    size = gan.config.output_size
    damaged, photo_mask, box = damage(photo, finder, size, name=name, **mask_settings)
    landmarks = face_landmarks(keypoints, finder, photo, damaged, box, photo_mask, size, prior)
    keypoint_map = draw_keypoint_map(landmarks.landmarks, size)
    crop_mask = known_in_crop(photo_mask, box, size)[None]
    x, k = from_uint8(crop_pixels(damaged, box, size)[None]), from_uint8(keypoint_map[None])
    generated = search_all(search, x, k, crop_mask, z_init=z_init, milestones=[search.config.nIter])
    blended = poisson_blend(x, generated, crop_mask, solver=blend_solver)[0]
    return PhotoFill(damaged, photo_mask, box, landmarks, keypoint_map, blended)


_damaged_worker = None  # (FaceFinder, FacePrior) of a preprocessing worker process


def init_damaged_worker(predictor, size):
    """A preprocessing worker's dlib and shape model (preprocess_test_images.py --mask_dir)."""
    global _damaged_worker
    _damaged_worker = (FaceFinder(predictor, size), load_face_prior())


def damaged_face_job(job):
    """(photo path, [Face], skip or None) of a damaged photo and its mask file, as the test-
    pair writer takes them: the face the holes reach into, its crop with the holes black,
    the keypoint map from the landmarks estimated from what it shows, and its crop mask."""
    path, mask_path = job
    finder, prior = _damaged_worker
    try:
        photo = load_rgb(path)
        if not os.path.exists(mask_path):
            raise Skip("no mask", f"{mask_path} is missing")
        try:
            photo_mask = mask_lib.load_mask(mask_path)
        except UserError as error:
            raise Skip("bad mask", str(error))
        if photo_mask.shape != photo.shape[:2]:
            raise Skip("mask of another size", f"{mask_path} is {photo_mask.shape[1]}x{photo_mask.shape[0]}, the "
                                               f"photo {photo.shape[1]}x{photo.shape[0]}")
        size = finder.size
        damaged = (photo * photo_mask[..., None]).astype(np.uint8)
        try:
            box = the_face(damaged_boxes(finder, damaged, photo_mask), photo.shape[1], photo.shape[0], path, "",
                           photo_mask)
        except UserError:
            raise Skip("no face")
        estimate = damaged_landmarks(finder, damaged, box, photo_mask, size, prior)
        face = Face(crop_pixels(damaged, box, size), draw_keypoint_map(estimate.landmarks, size),
                    estimate.landmarks.astype(np.float32), box, path, mask=known_in_crop(photo_mask, box, size))
        return path, [face], None
    except Skip as skip:
        return path, [], skip


KEYPOINT_LINES = {
    "estimate": "the keypoint map was drawn from the landmarks dlib finds outside the hole, those it cannot see "
                "estimated (docs/inpainting.md)",
    "dlib": "the keypoint map was drawn from dlib's landmarks of the damaged photo, hole and all",
    "clean": "the keypoint map was drawn from dlib's landmarks of the photo before the hole was made (a clean-image "
             "oracle, for measuring)",
}


def complete_photo(gan, search, image_path, out_dir, *, predictor=None, keypoints="estimate", prior=None, z_init=None,
                   blend_solver="banded", **mask_settings):
    """Inpaint image_path (inpaint_photo) and paste the fill back at the photo's resolution;
    mask_settings as damage() takes them. Writes {stem}_inpainted.png, {stem}_side_by_side.png
    and {stem}_keypoint_map.png to out_dir; returns the inpainted photo (uint8 [H, W, 3])."""
    try:
        photo = load_rgb(image_path)
    except Skip as skip:
        raise UserError(f"cannot use {image_path}: {skip}")
    finder = FaceFinder(predictor, gan.config.output_size)
    fill = inpaint_photo(gan, search, photo, finder, name=image_path, keypoints=keypoints, prior=prior,
                         z_init=z_init, blend_solver=blend_solver, **mask_settings)
    if fill.landmarks.note:
        print(f"{image_path}: {fill.landmarks.note}")
    result = fill.pasted()
    stem = os.path.splitext(os.path.basename(image_path))[0]
    out_path = os.path.join(out_dir, f"{stem}_inpainted.png")
    save_image(out_path, result)
    save_image(os.path.join(out_dir, f"{stem}_side_by_side.png"), np.concatenate([fill.damaged, result], axis=1))
    save_image(os.path.join(out_dir, f"{stem}_keypoint_map.png"), fill.keypoint_map)
    print(f"wrote {out_path} and {stem}_side_by_side.png; {KEYPOINT_LINES[keypoints]}")
    return result
