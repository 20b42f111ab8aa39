"""Groundwork of sequence inpainting (issue 13): synthetic clips, the moving mask, flicker."""
import hashlib

import numpy as np

import masks
import synthetic
from evaluation import flicker


def test_still_faces_are_those_the_data_sets_were_made_of():
    # Clips reuse the face generator's geometry; the still faces must not change with it.
    expected = {(0, 0): "ffcd6970066b0be9", (0, 7): "69c56193f31db850", (3, 11): "597bb875b7854598",
                (1, 255): "33787d4b86e87015"}
    for (seed, index), digest in expected.items():
        image, keypoint_map, landmarks = synthetic.synthetic_face(seed, index, 64)
        data = image.tobytes() + keypoint_map.tobytes() + landmarks.tobytes()
        assert hashlib.sha256(data).hexdigest()[:16] == digest


def test_a_synthetic_clip_is_smooth_deterministic_and_moves():
    frames, maps, landmarks = synthetic.synthetic_clip(0, 3, frames=32, size=64)
    assert frames.shape == maps.shape == (32, 64, 64, 3) and frames.dtype == np.uint8 and landmarks.shape == (32, 68, 2)
    again = synthetic.synthetic_clip(0, 3, frames=32, size=64)
    assert all(np.array_equal(a, b) for a, b in zip((frames, maps, landmarks), again))
    step = np.abs(np.diff(frames.astype(float), axis=0)).mean(axis=(1, 2, 3))
    faces = [synthetic.synthetic_face(0, i, 64)[0].astype(float) for i in range(6)]
    between = np.mean([np.abs(a - b).mean() for a, b in zip(faces[:-1], faces[1:])])
    assert step.max() < 0.15 * between  # consecutive frames are close; different faces are not
    # ... and it is a video, not a still: the head and mouth move over the clip.
    assert np.abs(landmarks - landmarks[0]).max() > 3.0
    mouth = landmarks[:, 66, 1] - landmarks[:, 62, 1]
    assert mouth.max() - mouth.min() > 2.0
    other = synthetic.synthetic_clip(0, 4, frames=4, size=64)[0]
    assert np.abs(other[0].astype(float) - frames[0]).mean() > 5 * step.max()  # another identity


def test_the_moving_mask_moves_across_the_face():
    holes = 1 - masks.moving(64, 8)
    assert holes.shape == (8, 64, 64)
    assert len({int(h.sum()) for h in holes}) == 1 and holes[0].sum() > 0.1 * 64 * 64
    centres = [np.nonzero(h)[1].mean() for h in holes]
    assert np.all(np.diff(centres) > 0) and centres[0] < 20 and centres[-1] > 44


def test_flicker_is_zero_for_the_truth_and_positive_for_noise():
    rng = np.random.default_rng(0)
    truth = rng.uniform(-1, 1, (6, 16, 16, 3))
    known = masks.moving(16, 6, scale=0.5)  # 1 = known
    assert flicker(truth, truth, known) == 0.0
    assert flicker(truth + 0.3, truth, known) < 1e-12  # an error that stays put does not flicker
    noisy = truth + rng.normal(0, 0.2, truth.shape)
    assert flicker(noisy, truth, known) > 0.01
    # Only the holes count: noise where every frame is known is no flicker.
    known_everywhere = known.min(axis=0)[None, ..., None]
    assert known_everywhere.sum() > 0
    assert flicker(truth + rng.normal(0, 0.2, truth.shape) * known_everywhere, truth, known) < 1e-12
    # On the [0, 1] scale: a frame-to-frame change of 0.2 in [-1, 1] is 0.1, squared 0.01.
    steps = truth.copy()
    steps[1::2] += 0.2
    assert abs(flicker(steps, truth, np.zeros((6, 16, 16))) - 0.01) < 1e-9
