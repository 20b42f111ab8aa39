"""The landmarks of a damaged face (facedata/shape.py): on synthetic faces, whose landmarks
are known, the points a hole hides come back from the visible ones; an undamaged face keeps
its landmarks; the shipped shape model loads."""
import numpy as np
import pytest

from facedata import shape
from facedata.synthetic import sample_geometry
from inpainting.masks import make_mask
from utils import UserError

SIZE = 64


def synthetic_landmarks(count, seed):
    """[count, 68, 2] true landmarks of synthetic faces, in pixels of 64 x 64 crops."""
    rng = np.random.default_rng(seed)
    return np.stack([sample_geometry(rng) for _ in range(count)]) * SIZE - 0.5


@pytest.fixture(scope="module")
def synthetic_model():
    return shape.fit_shape_model(synthetic_landmarks(2000, seed=0), SIZE)


def hidden_error(points, truth, hidden):
    eyes = np.linalg.norm(truth[36:42].mean(0) - truth[42:48].mean(0))
    return np.linalg.norm(points - truth, axis=1)[hidden].mean() / eyes


def drifted(truth, known):
    """Landmarks as dlib finds them on a black hole: the hidden ones pulled to the hole's
    centre and squeezed (eyes slide, the mouth closes), the visible ones as they are."""
    rows, cols = np.nonzero(known < 0.5)
    centre = np.array([cols.mean(), rows.mean()])
    hidden = known[np.clip(np.round(truth[:, 1]).astype(int), 0, SIZE - 1),
                   np.clip(np.round(truth[:, 0]).astype(int), 0, SIZE - 1)] < 0.5
    points = truth.copy()
    points[hidden] = centre + 0.5 * (truth[hidden] - centre) + [0, -4]
    return points, hidden


@pytest.mark.parametrize("mask_type", ["center", "checkboard", "left", "freehand_poly"])
def test_hidden_landmarks_of_synthetic_faces_come_back(synthetic_model, mask_type):
    """Held-out synthetic faces (another seed) under each mask: the estimate of the points
    the hole hides is within a tenth of the eye distance of the truth on average (0.02 to
    0.04 when written), half the mean shape's error or less, and at least twice closer than
    dlib-like guesses."""
    known = make_mask(mask_type, SIZE)
    errors, guesses, means = [], [], []
    for truth in synthetic_landmarks(40, seed=1):
        points, hidden = drifted(truth, known)
        if not hidden.any():
            continue
        estimate = shape.estimate_landmarks(points, known, synthetic_model)
        assert estimate.hidden[hidden].all()  # every point in the hole is estimated
        errors.append(hidden_error(estimate.landmarks, truth, hidden))
        guesses.append(hidden_error(points, truth, hidden))
        means.append(hidden_error(shape.from_unit(synthetic_model.mean.reshape(68, 2), SIZE), truth, hidden))
    assert len(errors) >= 20
    assert np.mean(errors) < 0.1 and 2 * np.mean(errors) < np.mean(guesses)
    assert np.mean(errors) < 0.5 * np.mean(means)  # the visible points tell the hidden ones something


def test_an_undamaged_face_keeps_its_landmarks(synthetic_model):
    points = synthetic_landmarks(1, seed=2)[0]
    estimate = shape.estimate_landmarks(points, np.ones((SIZE, SIZE), np.float32), synthetic_model)
    assert np.array_equal(estimate.landmarks, points) and not estimate.hidden.any() and not estimate.note


def test_points_clear_of_the_hole_are_kept_and_a_covered_face_says_so(synthetic_model):
    truth = synthetic_landmarks(1, seed=3)[0]
    known = make_mask("center", SIZE)
    points, _ = drifted(truth, known)
    estimate = shape.estimate_landmarks(points, known, synthetic_model)
    far = shape.distance_to_hole(shape.to_unit(points, SIZE), known) >= 2 * shape.MARGIN
    assert far.any() and np.array_equal(estimate.landmarks[far], points[far])
    covered = np.zeros((SIZE, SIZE), np.float32)
    everything = shape.estimate_landmarks(points, covered, synthetic_model)
    assert everything.hidden.all() and "average face" in everything.note
    assert np.allclose(everything.landmarks, shape.from_unit(synthetic_model.mean.reshape(68, 2), SIZE))


def test_the_shape_model_saves_loads_and_refuses_a_bad_file(synthetic_model, tmp_path):
    path = tmp_path / "shape_model.npz"
    synthetic_model.save(path)
    loaded = shape.ShapeModel.load(path)
    assert loaded.count == 2000 and np.allclose(loaded.covariance, synthetic_model.covariance, atol=1e-7)
    (tmp_path / "bad.npz").write_bytes(b"not a shape model")
    with pytest.raises(UserError, match="cannot read the shape model .*bad.npz"):
        shape.ShapeModel.load(tmp_path / "bad.npz")
    with pytest.raises(UserError, match="too few"):
        shape.fit_shape_model(synthetic_landmarks(1, seed=5), SIZE)


def test_the_shipped_prior_loads_beside_the_shipped_model():
    from core.configs import SHIPPED_MODEL
    prior = shape.load_face_prior(SHIPPED_MODEL)
    assert prior.shape_model.count > 30_000 and prior.mean_face.shape == (64, 64, 3)
    eyes = prior.shape_model.mean.reshape(68, 2)[36:48, 1]
    assert 0.3 < eyes.mean() < 0.5  # dlib's box: the eyes a third of the way down
