"""The landmarks of a damaged face: what dlib cannot see, estimated from what it can.

dlib's predictor always returns 68 points. Inside a hole it has only black pixels to go on,
so it guesses: eyes slide to the hole's edge, an open mouth closes, and the keypoint map
drawn from those points tells the generator to paint the wrong face. Here the face's shape
is modelled as a Gaussian over the 68 landmarks in unit crop coordinates (x and y over the
face box, 0 to 1), fitted to the landmarks of training faces (a point distribution model
with every mode kept). The points dlib places well away from any hole are taken as noisy
observations; every other point is the Gaussian's conditional mean given them: pose, face
shape and the correlations between the parts (a dropped jaw with an open mouth, a turned
head's nose) carry over from the visible points to the hidden ones. Points dlib can see
are kept as dlib found them, so an undamaged face keeps its landmarks exactly.

Landmarks are [68, 2] (x, y) in pixels of an S x S crop, pixel centres at integers (as
faces.crop_face gives them); masks [S, S], 1 = known.
"""
import dataclasses
import os

import numpy as np

from facedata.keypoints import NUM_LANDMARKS
from utils import UserError, atomic_path

SHAPE_MODEL_FILE = "shape_model.npz"  # beside exported models (experiments.py --export)
# Chosen on the CelebA validation people and UTKFace validation faces (docs/inpainting.md):
# a point dlib puts within MARGIN of a hole (in crop widths: 2.5 px at 64) is not trusted,
# since dlib's cascade reads pixels around each point and drifts towards the black hole;
# trusted points are observations with this standard deviation (crop widths).
MARGIN = 0.04
OBSERVATION_STD = 0.02
FEW_TRUSTED = 10  # with fewer trusted points than this the estimate is mostly the average shape: said


@dataclasses.dataclass(frozen=True)
class ShapeModel:
    """A Gaussian over the 68 landmarks in unit crop coordinates, flattened (x0, y0, x1, ...)."""
    mean: np.ndarray        # [136]
    covariance: np.ndarray  # [136, 136]
    count: int              # faces it was fitted to

    def save(self, path):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                # float32 halves the file; the estimate's sums run in float64 (load).
                np.savez(f, mean=self.mean.astype(np.float32), covariance=self.covariance.astype(np.float32),
                         count=self.count)

    @classmethod
    def load(cls, path):
        try:
            with np.load(path) as data:
                model = cls(data["mean"].astype(np.float64), data["covariance"].astype(np.float64),
                            int(data["count"]))
        except (OSError, KeyError, ValueError) as error:
            raise UserError(f"cannot read the shape model {path} ({type(error).__name__}): export it again with "
                            "experiments.py --export, or delete it to use the shipped one")
        if model.mean.shape != (2 * NUM_LANDMARKS,) or model.covariance.shape != (2 * NUM_LANDMARKS,) * 2:
            raise UserError(f"{path} is not a 68-point shape model: export it again with experiments.py --export")
        return model


def fit_shape_model(landmarks, size):
    """The ShapeModel of training faces' landmarks [N, 68, 2] in pixels of size x size crops."""
    unit = to_unit(np.asarray(landmarks, np.float64), size).reshape(len(landmarks), -1)
    if len(unit) < 2:
        raise UserError(f"{len(unit)} face is too few to fit a shape model: preprocess more training faces")
    # With fewer faces than coordinates the covariance is singular; the estimate's observation
    # noise keeps its solves well posed, and the shape model then knows only those faces.
    return ShapeModel(unit.mean(axis=0), np.cov(unit, rowvar=False), len(unit))


def fit_records(records_dir):
    """The ShapeModel of the landmarks of a training set's records (preprocess_train_images.py)."""
    from facedata.dataset import record_landmarks
    return fit_shape_model(*record_landmarks(records_dir))


def to_unit(points, size):
    """Crop pixels (centres at integers) to unit crop coordinates (0 and 1 the crop's edges)."""
    return (np.asarray(points, np.float64) + 0.5) / size


def from_unit(unit, size):
    return np.asarray(unit, np.float64) * size - 0.5


def distance_to_hole(unit_points, known):
    """[P] distance (crop widths) from each point to the nearest hole pixel's centre of the
    [S, S] mask `known`; infinite where there is no hole."""
    rows, cols = np.nonzero(np.asarray(known) < 0.5)
    if not len(rows):
        return np.full(len(unit_points), np.inf)
    size = known.shape[0]
    holes = np.stack([(cols + 0.5) / size, (rows + 0.5) / size], axis=1)
    # Each point's nearest hole pixel, in chunks so a 128 x 128 hole stays small in memory.
    return np.min([np.sqrt(((unit_points[:, None, :] - h[None]) ** 2).sum(-1)).min(axis=1)
                   for h in np.array_split(holes, max(1, len(holes) // 4096))], axis=0)


def conditional_mean(model, observed, values, std):
    """E[shape | shape[observed] = values + independent noise of std]: [136]. observed:
    indices into the 136 coordinates; values: their observations."""
    if not len(observed):
        return model.mean.copy()
    sigma_oo = model.covariance[np.ix_(observed, observed)] + std ** 2 * np.eye(len(observed))
    weights = np.linalg.solve(sigma_oo, values - model.mean[observed])
    return model.mean + model.covariance[:, observed] @ weights


@dataclasses.dataclass
class Estimate:
    landmarks: np.ndarray  # [68, 2] crop pixels: dlib's where trusted, the shape model's elsewhere
    hidden: np.ndarray     # bool [68]: the points that were estimated
    note: str = ""         # one line when so few points were trusted that the estimate is mostly the average shape


def coordinates(points):
    """The indices into the 136 flattened coordinates of landmark numbers `points`."""
    points = np.asarray(points, int)
    return (points[:, None] * 2 + [0, 1]).reshape(-1)


def estimate_landmarks(points, known, model, margin=MARGIN, std=OBSERVATION_STD):
    """The 68 landmarks of a damaged face from dlib's `points` ([68, 2], pixels of the
    S x S crop whose mask is `known`): points dlib puts at least `margin` from every hole,
    and whose estimate lies there too, are kept; the others become the shape model's
    conditional mean given the kept ones. With no hole the points come back unchanged."""
    points = np.asarray(points, np.float64)
    size = known.shape[0]
    unit = to_unit(points, size)
    trusted = distance_to_hole(unit, known) >= margin
    if trusted.all():
        return Estimate(points.copy(), ~trusted)
    while True:  # a point whose estimate falls near the hole was a guess of dlib's: not trusted (only shrinks)
        observed = coordinates(np.flatnonzero(trusted))
        estimate = conditional_mean(model, observed, unit.reshape(-1)[observed], std).reshape(NUM_LANDMARKS, 2)
        still = trusted & (distance_to_hole(estimate, known) >= margin)
        if (still == trusted).all():
            break
        trusted = still
    note = "" if trusted.sum() >= FEW_TRUSTED else (
        f"only {trusted.sum()} of the 68 landmarks lie clear of the hole: the others mostly follow the average face's "
        "shape")
    result = np.where(trusted[:, None], unit, estimate)
    return Estimate(from_unit(result, size), ~trusted, note)


@dataclasses.dataclass(frozen=True)
class FacePrior:
    """What the hidden landmarks of a damaged face are estimated from."""
    shape_model: ShapeModel
    mean_face: np.ndarray  # [S, S, 3] in [-1, 1]: the mean training face (any S; it is resized to the face)


def load_face_prior(checkpoint_dir=None):
    """The shape model and mean face exported beside a model (in its folder or the one above,
    as experiments.py --export writes them), else those of the real-face models that ship."""
    from core.configs import MEAN_FACE_FILE, SHIPPED_MODELS
    folders = [checkpoint_dir, os.path.dirname(os.path.normpath(checkpoint_dir))] if checkpoint_dir else []
    for folder in folders + [SHIPPED_MODELS]:
        shape_path, face_path = os.path.join(folder, SHAPE_MODEL_FILE), os.path.join(folder, MEAN_FACE_FILE)
        if os.path.exists(shape_path) and os.path.exists(face_path):
            return FacePrior(ShapeModel.load(shape_path), np.load(face_path).astype(np.float32))
    raise UserError(f"no {SHAPE_MODEL_FILE} and {MEAN_FACE_FILE} in {SHIPPED_MODELS}: the repository's shipped "
                    "models are incomplete (clone it again)")
