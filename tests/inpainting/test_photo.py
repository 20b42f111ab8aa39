"""A fill pasted back into a photo at the photo's own resolution (photo.paste_face): no
visible seam on a real photo, nothing outside the hole changed, and progress shown on long
video work."""
import io
import sys

import numpy as np
import pytest

from helpers import astronaut
from inpainting import metrics
from inpainting.masks import make_mask
from inpainting.photo import mask_on_box, paste_face
from utils import from_uint8

BOX = (176, 76, 267, 167)  # dlib's face box on the astronaut photo


def damaged_astronaut(kind="center"):
    photo = astronaut()
    photo_mask = mask_on_box(make_mask(kind, 64), BOX, *photo.shape[:2])
    return photo, (photo * photo_mask[..., None]).astype(np.uint8), photo_mask


def seam_ratio(image, truth, photo_mask):
    return metrics.seam_step(from_uint8(image[None]), photo_mask[None])[0] / \
        metrics.seam_step(from_uint8(truth[None]), photo_mask[None])[0]


@pytest.mark.parametrize("kind", ["center", "left"])
def test_a_fill_lighter_than_the_skin_leaves_no_seam(kind):
    """The true face crop at 64 px, 38 grey levels lighter (a fill's colour cast): copied in,
    its edge is a step well over the photo's own; blended at full resolution, the border is
    as smooth as the photo's (within 1.5x) and the hole is closer to the truth."""
    from facedata.faces import crop_pixels
    photo, damaged, photo_mask = damaged_astronaut(kind)
    fill = np.clip(from_uint8(crop_pixels(photo, BOX, 64)) + 0.3, -1, 1)
    blended, copied = paste_face(damaged, fill, BOX, photo_mask), paste_face(damaged, fill, BOX, photo_mask, blend=False)
    assert seam_ratio(blended, photo, photo_mask) < 1.5 < seam_ratio(copied, photo, photo_mask)
    hole = photo_mask < 0.5
    assert metrics.psnr(from_uint8(blended[hole][None]), from_uint8(photo[hole][None]))[0] > \
        metrics.psnr(from_uint8(copied[hole][None]), from_uint8(photo[hole][None]))[0] + 2
    np.testing.assert_array_equal(blended[~hole], damaged[~hole])  # every known pixel as it was
    assert (blended[hole] != 0).any(axis=-1).mean() > 0.99  # the hole filled


def test_the_shipped_model_on_a_real_photo_leaves_no_seam(tmp_path):
    """complete.py --image on the astronaut with the shipped model: the border of its fill is
    within 1.5x as sharp as the photo's own there, the former paste's was not, and outside
    the hole the photo is unchanged."""
    pytest.importorskip("dlib")
    from core.configs import SHIPPED_MODEL, SearchConfig
    from facedata.faces import FaceFinder
    from inpainting.inpaint import LatentSearch, load_model
    from inpainting.photo import inpaint_photo
    gan = load_model(SHIPPED_MODEL)
    search = LatentSearch(gan, SearchConfig(batch_size=1, nIter=100, outInterval=0))
    photo = astronaut()
    fill = inpaint_photo(gan, search, photo, FaceFinder(size=gan.config.output_size), mask_type="center")
    blended, copied = fill.pasted(), fill.pasted(blend=False)
    assert seam_ratio(blended, photo, fill.photo_mask) < 1.5 < seam_ratio(copied, photo, fill.photo_mask)
    known = fill.photo_mask > 0.5
    np.testing.assert_array_equal(blended[known], photo[known])


def test_a_frame_without_a_hole_comes_back_unchanged():
    photo, _, _ = damaged_astronaut()
    out = paste_face(photo, np.zeros((64, 64, 3), np.float32), BOX, np.ones(photo.shape[:2], np.float32))
    np.testing.assert_array_equal(out, photo)
    assert out is not photo  # a copy: the caller's frame is never written to


def test_a_hole_at_the_photo_edge_is_filled():
    """A face box touching the photo's border: the region has no pixel beyond it there."""
    photo = astronaut()
    box = (0, 0, 120, 120)
    photo_mask = mask_on_box(make_mask("left", 64), box, *photo.shape[:2])
    damaged = (photo * photo_mask[..., None]).astype(np.uint8)
    out = paste_face(damaged, np.zeros((64, 64, 3), np.float32), box, photo_mask)
    hole = photo_mask < 0.5
    assert hole[:, 0].any() and (out[hole] != 0).any(axis=-1).mean() > 0.99
    np.testing.assert_array_equal(out[~hole], damaged[~hole])


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_clip_search_shows_frames_done_and_the_time_left(tiny_model, monkeypatch):
    from inpainting import clips
    from core.configs import SearchConfig
    from inpainting.inpaint import LatentSearch, load_model
    gan = load_model(tiny_model[0])
    frames, maps = clips.synthetic_clips(1, 4, 32)
    masks = clips.clip_masks("center", 1, 4, 32)
    shown = Terminal()
    monkeypatch.setattr(sys, "stderr", shown)
    clips.inpaint_clips(LatentSearch(gan, SearchConfig(batch_size=1, nIter=2)), frames, maps, masks)
    bar = shown.getvalue()
    assert "frames" in bar and "4/4" in bar and "frame" in bar.split("4/4")[-1]
    assert "<" in bar  # tqdm's "elapsed<left"


@pytest.mark.parametrize("kind", ["center", "checkboard", "left", "freehand_poly"])
def test_the_landmarks_a_hole_hides_are_estimated_on_a_real_photo(kind):
    """dlib on the damaged astronaut against the estimate (photo.face_landmarks), both against
    dlib's landmarks of the photo before the hole: on the points the hole hides the estimate
    is within a tenth of the eye distance and closer than dlib's guess (0.26x to 0.52x when
    written); the points dlib sees clear of the hole are dlib's own."""
    pytest.importorskip("dlib")
    from facedata.faces import FaceFinder, to_crop
    from facedata.shape import load_face_prior
    from inpainting.photo import face_landmarks
    photo, damaged, photo_mask = damaged_astronaut(kind)
    finder, prior = FaceFinder(None, 64), load_face_prior()
    clean = to_crop(finder.landmarks_in_box(photo, BOX), BOX, 64)
    estimate = face_landmarks("estimate", finder, photo, damaged, BOX, photo_mask, 64, prior)
    guess = face_landmarks("dlib", finder, photo, damaged, BOX, photo_mask, 64, prior).landmarks
    hidden = estimate.hidden
    assert 10 < hidden.sum() < 68
    eyes = np.linalg.norm(clean[36:42].mean(0) - clean[42:48].mean(0))
    error, dlib_error = (np.linalg.norm(p - clean, axis=1)[hidden].mean() / eyes for p in (estimate.landmarks, guess))
    assert error < 0.1 and error < 0.7 * dlib_error
    assert np.array_equal(face_landmarks("clean", finder, photo, damaged, BOX, photo_mask, 64).landmarks, clean)


def test_an_undamaged_photo_keeps_dlibs_landmarks():
    pytest.importorskip("dlib")
    from facedata.faces import FaceFinder, to_crop
    from inpainting.photo import face_landmarks
    photo = astronaut()
    finder, known = FaceFinder(None, 64), np.ones(photo.shape[:2], np.float32)
    estimate = face_landmarks("estimate", finder, photo, photo, BOX, known, 64)
    assert not estimate.hidden.any()
    assert np.array_equal(estimate.landmarks, to_crop(finder.landmarks_in_box(photo, BOX), BOX, 64))
