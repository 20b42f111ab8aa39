"""experiments.py --keypoint_study: the conditioned model's fills with the map from the clean
face, from dlib on the damaged face and from the estimate, on test pairs made from photos."""
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

import experiments
from facedata import preprocess
from helpers import astronaut, needs_dlib
from paper import keypoint_study
from utils import UserError


def test_landmark_error_counts_only_the_hidden_points():
    clean = np.zeros((2, 68, 2))
    clean[:, 36:42] = [10.0, 20.0]
    clean[:, 42:48] = [30.0, 20.0]  # eyes 20 px apart
    masks = np.ones((2, 64, 64), np.float32)
    masks[0, 15:25, 5:15] = 0  # over the right eye of the first face only
    hidden = keypoint_study.hidden_truth(clean, masks)
    assert hidden[0, 36:42].all() and hidden.sum() == 6
    moved = clean.copy()
    moved[:, 36:42] += [4.0, 0.0]
    moved[:, 0] += [10.0, 0.0]  # a point the hole does not hide: not counted
    error = keypoint_study.landmark_error(moved, clean, hidden)
    assert error[0] == pytest.approx(4 / 20) and np.isnan(error[1])  # over the clean eyes' distance


def test_the_recovered_share_is_the_estimates_gain_over_the_clean_maps():
    rng = np.random.default_rng(0)
    dlib = rng.normal(20, 1, 200)
    clean, estimate = dlib + 2 + rng.normal(0, 0.1, 200), dlib + 1.5 + rng.normal(0, 0.1, 200)
    share = keypoint_study.recovery_interval(clean, dlib, estimate)
    assert share.value == pytest.approx(0.75, abs=0.02) and share.low < 0.75 < share.high < 0.8


@needs_dlib
def test_the_study_measures_the_three_maps_on_pairs_of_photos(tiny_model, tmp_path):
    """Three photos (the astronaut's head at three sizes), the tiny conditioned model exported as
    --export writes it, two masks: every table and figure is written, the clean map's
    landmark error is not reported (it is the reference), the estimate's is below dlib's on
    the center hole, and pairs without photos are refused in one line."""
    photos = tmp_path / "photos"
    photos.mkdir()
    head = Image.fromarray(astronaut()[:260, 100:360])  # her head, not the badge dlib also takes for a face
    for side in (260, 200, 150):
        head.resize((side, side)).save(photos / f"astronaut{side}.png")
    preprocess.run(preprocess.write_test_pairs, input_dir=str(photos), output_dir=str(tmp_path / "pairs"), size=64,
                   processes=1)
    models = tmp_path / "models"
    shutil.copytree(tiny_model[0], models / "conditioned")
    np.save(models / "mean_face.npy", np.zeros((32, 32, 3), np.float32))
    (models / "training.json").write_text(json.dumps({"output_size": 32, "gf_dim": 8, "df_dim": 8}))
    results = tmp_path / "results"
    summary = experiments.main(experiments.parse_args([
        "--models", str(models), "--test_dir", str(tmp_path / "pairs"), "--keypoint_study", "--masks",
        "center,strokes", "--nIter", "2", "--search_batch", "8", "--jobs", "2", "--results", str(results)]))
    table = (results / "keypoints.md").read_text()
    for heading in ("## Landmark error on the points the hole hides", "## PSNR (dB) after blending",
                    "## SSIM after blending", "## Speckle after blending"):
        assert heading in table
    assert re.search(r"\| share of the clean map's gain over dlib's that the estimate recovers \| -?\d+% ", table)
    assert "AMD" in table or "cores" in table  # the machine it ran on
    center = summary["center"]
    assert center["faces_with_hidden_landmarks"] == 3
    assert center["landmark_error"]["estimate"]["mean"] < center["landmark_error"]["dlib"]["mean"]
    assert set(center["psnr"]) == {"clean", "dlib", "estimate"}
    assert json.loads((results / "keypoints.json").read_text())["results"]["strokes"]["psnr"]["clean"]["mean"] > 5
    for mask in ("center", "strokes"):
        assert (results / "figures" / f"keypoints_{mask}.png").exists()
    (tmp_path / "synthetic").mkdir()
    preprocess.run(preprocess.write_test_pairs, synthetic=2, seed=1, size=64, processes=1,
                   output_dir=str(tmp_path / "synthetic"))
    with pytest.raises(UserError, match="do not name photos"):
        experiments.main(experiments.parse_args(["--models", str(models), "--test_dir", str(tmp_path / "synthetic"),
                                                 "--keypoint_study", "--results", str(tmp_path / "x")]))
