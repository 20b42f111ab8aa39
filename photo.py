"""Inpainting a user's own photo: find the face, damage it with the mask, take the landmarks
of the damaged face (an honest input: the clean photo is unknown in practice), inpaint the
face crop by latent search, blend, and paste the filled pixels back into the full photo.
"""
import math
import os

import numpy as np
from PIL import Image
from scipy import ndimage

import masks as mask_lib
from blend import poisson_blend
from faces import MIN_BOX_SIDE, FaceFinder, Skip, crop_face, largest_box, load_rgb, usable_boxes
from inpaint import search_all
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
        return damaged, photo_mask, the_face(finder.boxes(damaged), width, height, name,
                                             " once masked: use a smaller mask or --maskType on the face box")
    box = the_face(finder.boxes(photo), width, height, name, ": use a photo with a frontal face")
    photo_mask = mask_on_box(mask_lib.make_mask(mask_type, size, center_scale, fraction_masked), box, height, width)
    return (photo * photo_mask[..., None]).astype(np.uint8), photo_mask, box


def the_face(found, width, height, name, advice):
    """The box of the face to inpaint among dlib's `found`: the largest that is usable
    (faces.usable_boxes), as video.py follows; one clear line when there is none."""
    if not found:
        raise UserError(f"dlib finds no face in {name}{advice}")
    usable = usable_boxes(found, width, height)
    if not usable:
        raise UserError(f"the face dlib finds in {name} is under {MIN_BOX_SIDE} pixels on a side inside the photo: "
                        "use a larger photo, or one with the whole face in it")
    return largest_box(usable)


def mask_on_box(crop_mask, box, height, width):
    """A mask drawn on the face crop, stretched over the face box of a height x width photo:
    [H, W], 1 = known (everything outside the box)."""
    inside = np.asarray(Image.fromarray((crop_mask * 255).astype(np.uint8)).resize(
        (box[2] - box[0], box[3] - box[1]), Image.Resampling.NEAREST)) > 127
    photo_mask = np.ones((height, width), np.float32)
    photo_mask[box[1]:box[3], box[0]:box[2]] = inside
    return photo_mask


def paste_face(damaged, face, box, photo_mask):
    """The damaged photo (uint8) with the hole pixels inside box taken from `face`, the filled
    crop ([-1, 1], size x size) resized back onto the box; known pixels stay as they were."""
    filled = np.asarray(Image.fromarray(to_uint8(face)).resize((box[2] - box[0], box[3] - box[1]),
                                                               Image.Resampling.BICUBIC))
    result = damaged.copy()
    hole = photo_mask[box[1]:box[3], box[0]:box[2]] < 0.5
    result[box[1]:box[3], box[0]:box[2]][hole] = filled[hole]
    return result


def complete_photo(gan, search, image_path, out_dir, *, predictor=None, z_init=None, blend_solver="banded",
                   **mask_settings):
    """Inpaint image_path with a search of batch size 1; mask_settings as damage() takes
    them. Writes {stem}_inpainted.png, {stem}_side_by_side.png and {stem}_keypoint_map.png to
    out_dir; returns the inpainted photo (uint8 [H, W, 3])."""
    size = gan.config.output_size
    try:
        photo = load_rgb(image_path)
    except Skip as skip:
        raise UserError(f"cannot use {image_path}: {skip}")
    finder = FaceFinder(predictor, size)
    damaged, photo_mask, box = damage(photo, finder, size, name=image_path, **mask_settings)
    face = crop_face(damaged, box, finder.landmarks_in_box(damaged, box), size, image_path)
    crop_mask = known_in_crop(photo_mask, box, size)[None]
    x, k = from_uint8(face.image[None]), from_uint8(face.keypoint_map[None])
    generated = search_all(search, x, k, crop_mask, z_init=z_init, milestones=[search.config.nIter])
    blended = poisson_blend(x, generated, crop_mask, solver=blend_solver)[0]
    result = paste_face(damaged, blended, box, photo_mask)
    stem = os.path.splitext(os.path.basename(image_path))[0]
    out_path = os.path.join(out_dir, f"{stem}_inpainted.png")
    save_image(out_path, result)
    save_image(os.path.join(out_dir, f"{stem}_side_by_side.png"), np.concatenate([damaged, result], axis=1))
    save_image(os.path.join(out_dir, f"{stem}_keypoint_map.png"), face.keypoint_map)
    print(f"wrote {out_path} and {stem}_side_by_side.png; the keypoint map was computed from the damaged "
          "photo (the clean face is unknown), not from a clean-image oracle")
    return result
