import json

import imageio.v3 as iio
import numpy as np
import pytest

import main
import temporal
from inpainting.metrics import pairwise_mse
from utils import UserError


def test_pairwise_mse_matches_hand_computation():
    a = -np.ones((1, 2, 2, 3))            # 0 on the [0, 1] scale
    b = np.zeros((1, 2, 2, 3))            # 0.5
    c = np.ones((1, 2, 2, 3))             # 1
    values = pairwise_mse(np.concatenate([a, b, c]))
    np.testing.assert_allclose(values, [0.25, 1.0, 0.25])   # pairs (a,b), (a,c), (b,c)
    same = np.repeat(np.random.default_rng(0).uniform(-1, 1, (1, 4, 4, 3)), 8, axis=0)
    values = pairwise_mse(same)
    assert values.shape == (28,) and np.all(values == 0)


def test_consistency_experiment_on_a_tiny_model(tiny_model, tmp_path):
    ckpt, test_dir, _ = tiny_model
    args = temporal.parse_args(["--checkpoint_dir", ckpt, "--test_dir", test_dir, "--outDir", str(tmp_path),
                                "--batch_size", "8", "--masks_per_subject", "4", "--nIter", "4",
                                "--outInterval", "2", "--limit", "5", "--maskType", "checkboard"])
    summary = temporal.main(args)
    # 5 subjects, 2 per batch: a partial last group of 1.
    before, after = np.load(tmp_path / "consistency_before.npy"), np.load(tmp_path / "consistency_after.npy")
    assert before.shape == after.shape == (5, 6)  # 4 masks: 6 pairs per subject
    assert np.all(before > 0)
    assert np.load(tmp_path / "psnr_after.npy").shape == (20,)
    frames = iio.imread(tmp_path / "subject_4.gif", index=None)
    assert frames.shape[0] == 4 and frames.shape[1:3] == (32, 32)
    assert (tmp_path / "subject_0.png").exists()
    saved = json.load(open(tmp_path / "summary.json"))
    assert saved["consistency_after_blending"]["mean"] == pytest.approx(after.mean())
    assert summary["subjects"] == 5
    with pytest.raises(UserError, match="multiple of --masks_per_subject"):
        temporal.main(temporal.parse_args(["--checkpoint_dir", ckpt, "--test_dir", test_dir,
                                           "--batch_size", "10", "--masks_per_subject", "4"]))


def test_pose_appearance_figures(tiny_model, tmp_path):
    ckpt = tiny_model[0]
    records = tiny_model[2]
    paths = main.main(main.parse_args(["--visualize", "--checkpoint_dir", ckpt, "--train_records", records,
                                       "--sample_dir", str(tmp_path)]))
    first = iio.imread(paths[0])
    second = iio.imread(paths[1])
    assert first.shape == (8 * 32, 9 * 32, 3) and second.shape == (9 * 32, 9 * 32, 3)
    # Column 0 of the first figure is the maps; the samples of one row differ (different z).
    row = first[:32, 32:].reshape(32, 8, 32, 3).transpose(1, 0, 2, 3).astype(float)
    assert row.std(axis=0).mean() > 0.5
    # decoupling.json holds the scores of exactly these 8 x 8 samples, and each factor moves them.
    from facedata import dataset
    from paper.figures import decoupling_scores, face_regions, generate_all_pairs
    from inpainting.inpaint import load_model
    scores = json.load(open(tmp_path / "celebA" / "decoupling.json"))
    maps = dataset.first_examples(records, 32, 8)[1].numpy()
    z = np.random.default_rng(0).uniform(-1, 1, (8, 100)).astype(np.float32)
    expected = decoupling_scores(generate_all_pairs(load_model(ckpt), z, maps), face_regions(maps))
    assert scores == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert scores["appearance_from_z"] > 0 and scores["structure_from_map"] > 0


def test_decoupling_scores_separate_the_factors():
    from paper.figures import decoupling_scores
    rng = np.random.default_rng(0)
    colour_of_z = rng.uniform(-0.5, 0.5, (1, 8, 1, 1, 3))          # appearance depends on z only
    shape_of_map = rng.uniform(-0.3, 0.3, (8, 1, 16, 16, 1))       # structure depends on the map only
    shape_of_map -= shape_of_map.mean(axis=(2, 3), keepdims=True)
    scores = decoupling_scores(np.broadcast_to(colour_of_z + shape_of_map, (8, 8, 16, 16, 3)))
    assert scores["appearance_from_z"] > 0.01 and scores["appearance_from_map"] < 1e-12
    assert scores["structure_from_map"] > 0.001 and scores["structure_from_z"] < 1e-12
    # Appearance inside each map's face region: a map that only moves the face does not change it.
    from paper.figures import face_regions
    from facedata.keypoints import draw_keypoint_map
    from facedata.synthetic import TEMPLATE
    maps = np.stack([draw_keypoint_map(TEMPLATE * 16 + shift, 16) for shift in range(-2, 2)]) / 127.5 - 1
    regions = face_regions(maps)
    assert regions[:, 8, 8].all() and not regions[:, 0, 0].any()
    skin = rng.uniform(-0.5, 0.5, (1, 4, 1, 1, 3))
    images = np.where(regions[:, None, :, :, None], skin, -1.0)   # each z a skin tone, faces moved by the map
    moved = decoupling_scores(images, regions)
    assert moved["appearance_from_map"] < 1e-12 < moved["appearance_from_z"]


def test_consistency_shards_merged_equal_one_run(tiny_model, tmp_path):
    ckpt, test_dir, _ = tiny_model

    def run(out, *extra):
        return temporal.main(temporal.parse_args(["--checkpoint_dir", ckpt, "--test_dir", test_dir, "--outDir",
                                                  str(out), "--batch_size", "8", "--masks_per_subject", "4",
                                                  "--nIter", "3", "--limit", "5", "--maskType", "center", *extra]))
    whole = run(tmp_path / "whole")  # 5 subjects, 2 per batch: 3 batches, split 1 + 2
    for shard in ("0", "1"):
        run(tmp_path / "parts", "--shard", shard, "--num_shards", "2")
    merged = run(tmp_path / "parts", "--merge", "--num_shards", "2")
    for name in ("consistency_before.npy", "consistency_after.npy", "psnr_after.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / "parts" / name), np.load(tmp_path / "whole" / name))
    assert {k: v for k, v in merged.items() if k != "seconds"} == {k: v for k, v in whole.items() if k != "seconds"}
    assert (tmp_path / "parts" / "subject_4.gif").exists()
