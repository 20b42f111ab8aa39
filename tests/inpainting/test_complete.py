import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import complete
from core.configs import SearchConfig
from helpers import astronaut
from inpainting.inpaint import LatentSearch, hmc_proposal, load_model, reflect
from inpainting.metrics import PSNR_CAP_DB, psnr
from utils import UserError


def args_for(tiny_model, tmp_path, *extra):
    ckpt, test_dir, _ = tiny_model
    return complete.parse_args(["--checkpoint_dir", ckpt, "--test_dir", test_dir, "--outDir", str(tmp_path / "out"),
                                "--batch_size", "4", "--nIter", "6", "--outInterval", "3", *extra])


def test_psnr_values():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3))
    assert np.all(psnr(x, x) == PSNR_CAP_DB)
    # +0.1 on the [0, 1] scale everywhere: MSE 0.01, PSNR 20 dB.
    np.testing.assert_allclose(psnr(np.clip(x, -1, 0.8) + 0.2, np.clip(x, -1, 0.8)), 20.0, atol=1e-9)


def test_search_lowers_the_context_loss(tiny_model):
    ckpt = tiny_model[0]
    gan = load_model(ckpt)
    rng = np.random.default_rng(0)
    maps = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    # A target the generator can reach: its own output for a hidden z.
    images = gan.generator(rng.uniform(-1, 1, (4, 100)).astype(np.float32), maps).numpy()
    m = np.ones((4, 32, 32, 1), np.float32)
    m[:, 8:24, 8:24] = 0
    search = LatentSearch(gan, SearchConfig(batch_size=4))
    search.start()
    _, first, _, _ = search.run(images, maps, m, 0)
    _, last, _, _ = search.run(images, maps, m, 60)
    assert np.all(last < first) and last.mean() < 0.7 * first.mean()
    assert np.abs(search.z.numpy()).max() <= 1.0


def test_hmc_runs_and_moves_z(tiny_model):
    gan = load_model(tiny_model[0])
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    maps = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    m = np.ones((2, 32, 32, 1), np.float32)
    m[:, :, :16] = 0
    search = LatentSearch(gan, SearchConfig(batch_size=2, approach="hmc", hmcL=3, hmcEps=0.05, hmcBeta=0.2))
    search.start()
    z0 = search.z.numpy()
    total, *_ = search.run(images, maps, m, 4)
    assert np.all(np.isfinite(total))
    assert search.accepted.numpy().sum() > 0 and not np.allclose(search.z.numpy(), z0)


def test_reflection_keeps_z_in_the_box_and_flips_momentum():
    z, v = reflect(tf.constant([[1.2, -1.3, 0.5, 3.5]]), tf.ones([1, 4]))
    np.testing.assert_allclose(z.numpy(), [[0.8, -0.7, 0.5, -0.5]], atol=1e-6)
    np.testing.assert_allclose(v.numpy(), [[-1, -1, 1, 1]])  # 3.5 bounced twice: off 1, then off -1


def test_hmc_samples_its_target_on_the_box():
    # Energy -3z on [-1, 1]: density exp(3 z) / Z, most of its mass near the upper bound,
    # where clipping z inside the leapfrog piled the chains up at exactly 1.
    beta, chains = 1.0, 4000

    def loss_and_grad(z):
        return -3.0 * z[:, 0], tf.fill(tf.shape(z), -3.0)

    noise = tf.random.Generator.from_seed(3)
    z = tf.Variable(noise.uniform([chains, 1], -1, 1))

    @tf.function
    def sweep(steps):
        for _ in tf.range(steps):
            moved, _ = hmc_proposal(z, loss_and_grad, beta, 0.3, 5, noise)
            z.assign(moved)
    sweep(tf.constant(60))
    samples = z.numpy()[:, 0]
    assert np.all(np.abs(samples) <= 1.0) and np.mean(samples > 0.999) < 0.01
    edges = np.linspace(-1, 1, 11)
    seen = np.histogram(samples, edges)[0] / chains
    target = np.diff(np.exp(3 * edges)) / (np.exp(3) - np.exp(-3))
    np.testing.assert_allclose(seen, target, atol=0.02)


def test_experiment_writes_outputs_and_handles_a_partial_batch(tiny_model, tmp_path):
    summary = complete.main(args_for(tiny_model, tmp_path, "--maskType", "checkboard", "--limit", "6"))
    out = tmp_path / "out"
    for name in ("before_0.png", "before_1.png", "mask_0.png", "gt_1.png", "completed/0_3.png",
                 "completed/0_6.png", "completed/1_6.png", "completed/1_blended.png"):
        assert (out / name).exists(), name
    before, after = np.load(out / "psnr_before.npy"), np.load(out / "psnr_after.npy")
    assert before.shape == after.shape == (6,)  # the 2 padded slots of batch 1 are not counted
    saved = json.load(open(out / "summary.json"))
    assert saved["psnr_after_blending"]["count"] == 6
    assert saved["psnr_before_blending"]["mean"] == pytest.approx(before.mean())
    assert 5 < before.mean() < 60
    assert summary["maskType"] == "checkboard"


def test_clear_errors(tiny_model, tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        complete.main(args_for(tiny_model, tmp_path, "--checkpoint_dir", str(tmp_path / "none")))
    with pytest.raises(UserError, match="holds a 32x32 model but --output_size is 64"):
        complete.main(args_for(tiny_model, tmp_path, "--output_size", "64"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no test pairs"):
        complete.main(args_for(tiny_model, tmp_path, "--test_dir", str(tmp_path / "empty")))
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "mask.png")
    with pytest.raises(UserError, match="is 64x64 but the model is 32x32"):
        complete.main(args_for(tiny_model, tmp_path, "--mask_file", str(tmp_path / "mask.png")))
    ckpt_only_config = tmp_path / "cfg"
    ckpt_only_config.mkdir()
    (ckpt_only_config / "config.json").write_text(open(os.path.join(tiny_model[0], "config.json")).read())
    with pytest.raises(UserError, match="no checkpoint in"):
        complete.main(args_for(tiny_model, tmp_path, "--checkpoint_dir", str(ckpt_only_config)))


def test_user_mask_file(tiny_model, tmp_path):
    mask = np.full((32, 32), 255, np.uint8)
    mask[10:22, 4:28] = 0
    Image.fromarray(mask).save(tmp_path / "mine.png")
    complete.main(args_for(tiny_model, tmp_path, "--mask_file", str(tmp_path / "mine.png"), "--limit", "4"))
    assert np.load(tmp_path / "out" / "psnr_after.npy").shape == (4,)


def test_a_photo_of_your_own(tiny_model, tmp_path):
    pytest.importorskip("dlib")
    photo = astronaut()
    Image.fromarray(photo).save(tmp_path / "astronaut.png")
    args = args_for(tiny_model, tmp_path, "--image", str(tmp_path / "astronaut.png"), "--maskType", "center")
    result = complete.main(args)
    assert result.shape == photo.shape
    changed = np.any(result != photo, axis=-1)
    ys, xs = np.nonzero(changed)
    # Only pixels inside the face box (175..266, 76..167 for this photo) may change.
    assert changed.sum() > 100 and xs.min() >= 170 and xs.max() <= 270 and ys.min() >= 70 and ys.max() <= 172
    for suffix in ("_inpainted.png", "_side_by_side.png", "_keypoint_map.png"):
        assert (tmp_path / "out" / f"astronaut{suffix}").exists()


def test_a_photos_map_comes_from_the_keypoints_asked_for(tiny_model, tmp_path, capsys):
    """--keypoints estimate (the default), dlib and clean: three maps of one damaged photo, each
    said in the closing line; clean is dlib's map of the photo before the hole was made."""
    pytest.importorskip("dlib")
    from facedata.faces import FaceFinder, to_crop
    from facedata.keypoints import draw_keypoint_map
    Image.fromarray(astronaut()).save(tmp_path / "astronaut.png")
    maps = {}
    for keypoints in ("estimate", "dlib", "clean"):
        extra = ["--keypoints", keypoints] if keypoints != "estimate" else []
        complete.main(args_for(tiny_model, tmp_path, "--image", str(tmp_path / "astronaut.png"), "--maskType",
                               "center", "--nIter", "2", *extra))
        maps[keypoints] = np.asarray(Image.open(tmp_path / "out" / "astronaut_keypoint_map.png"))
        said = capsys.readouterr().out
        assert {"estimate": "estimated", "dlib": "hole and all", "clean": "before the hole"}[keypoints] in said
    box = (175, 76, 266, 167)  # dlib's box of the astronaut's face
    clean = draw_keypoint_map(to_crop(FaceFinder(None, 32).landmarks_in_box(astronaut(), box), box, 32), 32)
    np.testing.assert_array_equal(maps["clean"], clean)
    assert (maps["estimate"] != maps["dlib"]).any(axis=-1).sum() > 20
    # The estimate's map is closer to the clean one than dlib's guess is.
    assert (maps["estimate"] != clean).any(axis=-1).sum() < (maps["dlib"] != clean).any(axis=-1).sum()
    # A hole next to every landmark (the grid mask keeps one pixel in 16): the fallback is said in one line.
    complete.main(args_for(tiny_model, tmp_path, "--image", str(tmp_path / "astronaut.png"), "--maskType", "grid",
                           "--nIter", "2"))
    said = [line for line in capsys.readouterr().out.splitlines() if "average face" in line]
    assert len(said) == 1 and said[0].startswith(str(tmp_path / "astronaut.png"))


class FakeFinder:
    """dlib's face boxes, given: FaceFinder's interface without dlib."""

    def __init__(self, boxes):
        self.found = boxes

    def __call__(self, predictor=None, size=128):
        return self

    def boxes(self, image):
        return self.found

    def landmarks_in_box(self, image, box):
        left, top, right, bottom = box
        return np.stack([np.linspace(left, right - 1, 68), np.linspace(top, bottom - 1, 68)], 1).astype(np.float32)


def test_a_photo_whose_face_is_too_small_or_outside_is_one_clear_line(tiny_model, tmp_path, monkeypatch):
    from inpainting import photo
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "small.png")
    args = args_for(tiny_model, tmp_path, "--image", str(tmp_path / "small.png"))
    for boxes in ([(58, 10, 80, 30)], [(10, 10, 15, 15)], []):  # 6 px inside once clamped; 5 px; none
        monkeypatch.setattr(photo, "FaceFinder", FakeFinder(boxes))
        with pytest.raises(UserError, match="small.png"):
            complete.main(args)


def test_a_photo_is_about_its_largest_face():
    """inpainting/photo.py follows the rule inpainting/video.py does for the first frame: the largest face,
    whatever order dlib lists them in."""
    from inpainting import photo
    picture = np.full((100, 100, 3), 128, np.uint8)
    small, large = (0, 0, 20, 20), (30, 30, 90, 90)
    for found in ([small, large], [large, small]):
        assert photo.damage(picture, FakeFinder(found), 32)[2] == large
    assert photo.damage(picture, FakeFinder([(-50, 40, 5, 60), small]), 32)[2] == small  # the other: 5 px inside


def test_known_pixels_of_a_photo_crop_are_untouched_by_the_hole():
    # The face crop is resampled (bicubic) from the damaged photo, so crop pixels next to the
    # hole mix in its zeros; only pixels whose whole footprint is known may count as known.
    from facedata.faces import crop_face
    from inpainting.photo import known_in_crop
    photo = astronaut()
    box, size = (175, 76, 266, 167), 32  # the astronaut's face box: 91 px down to 32
    photo_mask = np.ones(photo.shape[:2], np.float32)
    photo_mask[105:135, 195:245] = 0
    damaged = (photo * photo_mask[..., None]).astype(np.uint8)
    landmarks = np.tile([[220.0, 120.0]], (68, 1))
    clean = crop_face(photo, box, landmarks, size).image.astype(int)
    crop = crop_face(damaged, box, landmarks, size).image.astype(int)
    known = known_in_crop(photo_mask, box, size) > 0.5
    assert np.all(crop[known] >= clean[known])  # no known pixel is darker than in the clean crop
    np.testing.assert_array_equal(crop[known], clean[known])
    # A nearest-neighbour resize of the mask, as before, called darkened pixels known.
    region = Image.fromarray((photo_mask[76:167, 175:266] * 255).astype(np.uint8))
    nearest = np.asarray(region.resize((size, size), Image.Resampling.NEAREST)) > 127
    assert (crop[nearest] < clean[nearest] - 8).any()
    # What is given up is a thin ring: less than twice the hole's own area.
    assert 0 < nearest.sum() - known.sum() < 2 * (~nearest).sum()


def test_shards_merged_equal_one_run(tiny_model, tmp_path):
    # 10 faces at batch 4: 3 batches, split 1 + 2 over two shards.
    whole = complete.main(args_for(tiny_model, tmp_path / "whole", "--outDir", str(tmp_path / "whole")))
    for shard in ("0", "1"):
        complete.main(args_for(tiny_model, tmp_path, "--outDir", str(tmp_path / "parts"), "--shard", shard,
                               "--num_shards", "2"))
    assert not (tmp_path / "parts" / "summary.json").exists()
    merged = complete.main(args_for(tiny_model, tmp_path, "--outDir", str(tmp_path / "parts"), "--merge",
                                    "--num_shards", "2"))
    for name in ("psnr_before.npy", "psnr_after.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / "parts" / name), np.load(tmp_path / "whole" / name))
    assert {k: v for k, v in merged.items() if k != "seconds"} == {k: v for k, v in whole.items() if k != "seconds"}
    assert sorted(os.listdir(tmp_path / "parts" / "completed")) == sorted(os.listdir(tmp_path / "whole" / "completed"))
    with pytest.raises(UserError, match="shard 0 of 3 is missing.*--shard 0 --num_shards 3"):
        complete.main(args_for(tiny_model, tmp_path, "--outDir", str(tmp_path / "parts"), "--merge",
                               "--num_shards", "3"))
    with pytest.raises(UserError, match="--shard 0 of --num_shards 4 gets no batch \\(there are 3\\)"):
        complete.main(args_for(tiny_model, tmp_path, "--shard", "0", "--num_shards", "4"))
