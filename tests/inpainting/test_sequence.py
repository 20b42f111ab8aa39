"""Sequence inpainting: synthetic clips, the moving mask, flicker, the temporal methods,
sequence.py end to end, and face videos through dlib."""
import hashlib

import numpy as np

from facedata import synthetic
from helpers import needs_dlib
from inpainting import masks
from inpainting.metrics import flicker


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


def clip_inputs(clips=2, frames=4, size=32):
    from inpainting.clips import clip_masks, synthetic_clips
    return synthetic_clips(clips, frames, size, seed=5) + (clip_masks("moving", clips, frames, size),)


def test_every_temporal_method_inpaints_a_clip(tiny_model):
    from inpainting.clips import METHODS, inpaint_clips
    from core.configs import SearchConfig
    from inpainting.inpaint import LatentSearch, load_model
    gan = load_model(tiny_model[0])
    search = LatentSearch(gan, SearchConfig(batch_size=3, nIter=4))  # 2 clips, padded to 3
    frames, maps, known = clip_inputs()
    expected_steps = {"independent": [4, 4, 4, 4], "warm": [4, 2, 2, 2], "smooth": [4, 2, 2, 2],
                      "encoder": [2, 2, 2, 2]}
    for method in METHODS:
        generated, completed, zs, steps = inpaint_clips(search, frames, maps, known, method=method, n_iter_next=2,
                                                        z_init=lambda images, holes, maps: np.zeros((3, 100)))
        assert generated.shape == completed.shape == (2, 4, 32, 32, 3) and zs.shape == (2, 4, 100)
        assert list(steps) == expected_steps[method]
        assert np.isfinite(generated).all() and np.abs(zs).max() <= 1.0
        inside = known[..., None] == 1
        np.testing.assert_array_equal(np.where(inside, completed, 0), np.where(inside, frames, 0))


def test_warm_starts_at_the_previous_z_and_smooth_holds_it(tiny_model):
    from inpainting.clips import inpaint_clips
    from core.configs import SearchConfig
    from inpainting.inpaint import LatentSearch, load_model
    search = LatentSearch(load_model(tiny_model[0]), SearchConfig(batch_size=2, nIter=6, lr=0.05))
    frames, maps, known = clip_inputs()
    _, _, zs, _ = inpaint_clips(search, frames, maps, known, method="warm", n_iter_next=0)
    np.testing.assert_array_equal(zs[:, 1:], zs[:, :-1])  # no steps after the first: z carried over
    # Each run draws its starts afresh from the seed: the first frame is the same for every
    # method but the encoder, and a run does not depend on what ran before it.
    independent = inpaint_clips(search, frames, maps, known, method="independent")[2]
    np.testing.assert_array_equal(independent[:, 0], zs[:, 0])
    np.testing.assert_array_equal(inpaint_clips(search, frames, maps, known, method="independent")[2], independent)
    moves = {}
    for method, weight in (("warm", 0.0), ("smooth", 1e4)):
        _, _, zs, _ = inpaint_clips(search, frames, maps, known, method=method, n_iter_next=40,
                                    temporal_weight=weight)
        moves[method] = np.abs(np.diff(zs, axis=1)).mean()
    # The temporal term keeps z_t near z_t-1. Adam's steps are about lr whatever the pull, so
    # over a few steps smooth's oscillation and warm's drift are alike (their ratio was 0.27 to
    # 0.33 at 6 steps, by the CPU that trained the tiny model); over 40 steps warm drifts on and
    # smooth settles (ratio 0.016 with AVX-512, AVX2 and TensorFlow's own kernels alike).
    assert moves["smooth"] < 0.3 * moves["warm"]


def test_scores_of_a_clip_are_per_frame_and_per_clip(tiny_model):
    from inpainting.clips import score_clips
    from core.configs import SearchConfig
    from inpainting.inpaint import LatentSearch, load_model
    search = LatentSearch(load_model(tiny_model[0]), SearchConfig(batch_size=2, nIter=3))
    frames, maps, known = clip_inputs()
    blended, scores = score_clips(search, frames, maps, known, method="warm", n_iter_next=1)
    assert blended.shape == frames.shape
    inside = known[..., None] == 1
    np.testing.assert_allclose(np.where(inside, blended, 0), np.where(inside, frames, 0), atol=1e-6)
    assert scores["psnr_before"].shape == scores["psnr_after"].shape == (2, 4)
    assert scores["flicker_before"].shape == (2,) and (scores["flicker_before"] > 0).all()
    assert np.isfinite(scores["psnr_after"]).all() and scores["seconds_per_frame"] > 0
    assert list(scores["steps"]) == [3, 1, 1, 1]


def test_sequence_runs_every_method_end_to_end(tiny_model, tmp_path):
    import json
    import os

    import imageio.v3 as iio
    import pytest

    import sequence
    import train_encoder
    from utils import UserError
    ckpt = tmp_path / "ckpt"
    os.makedirs(ckpt)
    for name in os.listdir(tiny_model[0]):  # the trained GAN, with an encoder of its own
        if os.path.isfile(os.path.join(tiny_model[0], name)):
            os.link(os.path.join(tiny_model[0], name), ckpt / name)
    common = ["--checkpoint_dir", str(ckpt), "--synthetic_video", "2", "--frames", "4", "--nIter", "2",
              "--nIter_next", "1"]
    with pytest.raises(UserError, match="no trained encoder"):
        sequence.main(sequence.parse_args(common + ["--temporal", "encoder", "--outDir", str(tmp_path / "x")]))
    train_encoder.main(train_encoder.parse_args(["--checkpoint_dir", str(ckpt), "--train_records", tiny_model[2],
                                                 "--steps", "2", "--batch_size", "8"]))
    for method in ("independent", "warm", "smooth", "encoder"):
        out = tmp_path / method
        summary = sequence.main(sequence.parse_args(common + ["--temporal", method, "--outDir", str(out)]))
        assert iio.imread(out / "clip1.mp4", plugin="FFMPEG").shape == (4, 128, 384, 3)
        assert iio.imread(out / "clip0.gif").shape[0] == 4 and (out / "strip1.png").exists()
        assert json.loads((out / "summary.json").read_text())["temporal"] == method
        assert summary["psnr_after"]["count"] == 2 * 4 and len(summary["psnr_per_frame_after"]) == 4
        assert summary["steps_per_frame"] == {"independent": [2] * 4, "encoder": [1] * 4}.get(method, [2, 1, 1, 1])
    rows = sequence.main(sequence.parse_args(common + ["--study", "--outDir", str(tmp_path / "study")]))
    assert [r["method"] for r in rows] == ["independent", "warm", "smooth", "encoder"]
    assert rows[0]["flicker_after_reduction"].value == 1.0 and rows[0]["psnr_gain"].value == 0.0
    assert all(r["flicker_before"].low <= r["flicker_before"].value <= r["flicker_before"].high for r in rows)
    assert "| warm |" in (tmp_path / "study" / "study.md").read_text()
    saved = json.loads((tmp_path / "study" / "study.json").read_text())["rows"]
    assert saved[1]["psnr_gain"]["value"] == pytest.approx(rows[1]["psnr_gain"].value)
    for bad, message in ((["--synthetic_video", "0"], "give --video PATH .* or --synthetic_video N"),
                         (["--frames", "1"], "2 frames"), (["--video", "v.mp4"], "one of them"),
                         (["--mask_video", "m.mp4"], "synthetic clips take --maskType")):
        with pytest.raises(UserError, match=message):
            sequence.main(sequence.parse_args(common + bad))


def test_a_stopped_clip_search_goes_on_where_it_stopped(tiny_model, tmp_path):
    import os

    from inpainting.clips import inpaint_clips, remove_frame_log
    from core.configs import SearchConfig
    from inpainting.inpaint import LatentSearch, load_model
    search = LatentSearch(load_model(tiny_model[0]), SearchConfig(batch_size=2, nIter=3))
    frames, maps, known = clip_inputs(frames=5)
    for method in ("independent", "warm"):
        reference = inpaint_clips(search, frames, maps, known, method=method, n_iter_next=2)
        log = tmp_path / method
        inpaint_clips(search, frames, maps, known, method=method, n_iter_next=2, resume_dir=str(log))
        assert sorted(os.listdir(log)) == [f"frame{t:05d}.npz" for t in range(5)] + ["key.json"]
        for t in (2, 3, 4):  # as if stopped during frame 2
            os.remove(log / f"frame{t:05d}.npz")
        resumed = inpaint_clips(search, frames, maps, known, method=method, n_iter_next=2, resume_dir=str(log))
        for ours, theirs in zip(resumed, reference):  # the random starts of frames 0 and 1 are skipped, not redrawn
            np.testing.assert_array_equal(ours, theirs)
    # Other settings do not pick up the frames saved for these.
    other = inpaint_clips(search, frames, maps, known, method="warm", n_iter_next=1, resume_dir=str(tmp_path / "warm"))
    assert list(other[3]) == [3, 1, 1, 1, 1]
    (tmp_path / "warm" / "mine.txt").write_text("not the log's")
    remove_frame_log(str(tmp_path / "warm"))
    assert os.listdir(tmp_path / "warm") == ["mine.txt"]
    remove_frame_log(str(tmp_path / "independent"))
    assert not (tmp_path / "independent").exists()


def test_an_interrupted_sequence_run_resumes(tiny_model, tmp_path, monkeypatch, capsys):
    import pytest

    import sequence
    from inpainting.inpaint import LatentSearch
    from utils import UserError
    argv = ["--checkpoint_dir", tiny_model[0], "--synthetic_video", "2", "--frames", "4", "--nIter", "2",
            "--outDir", str(tmp_path)]
    run, calls = LatentSearch.run, []

    def stopped_on_frame_3(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return run(self, *args)
    monkeypatch.setattr(LatentSearch, "run", stopped_on_frame_3)
    with pytest.raises(UserError, match="interrupted: the frames searched so far are in .*progress"):
        sequence.main(sequence.parse_args(argv))
    assert len(list((tmp_path / "progress").glob("frame*.npz"))) == 2
    monkeypatch.setattr(LatentSearch, "run", run)
    summary = sequence.main(sequence.parse_args(argv))
    assert "resuming at frame 2 of 4" in capsys.readouterr().out
    assert summary["psnr_after"]["count"] == 8 and not (tmp_path / "progress").exists()


def test_with_no_model_given_synthetic_clips_use_the_experiments_model(tiny_model, tmp_path, monkeypatch):
    from paper import comparison
    import sequence
    from core.configs import SHIPPED_MODEL, ComparisonConfig, SearchConfig
    calls = []

    def conditioned_model(results, encoder=False):  # stands in for training it (minutes)
        calls.append((results, encoder))
        return tiny_model[0], ComparisonConfig(nIter=5)
    monkeypatch.setattr(comparison, "conditioned_model", conditioned_model)
    monkeypatch.chdir(tmp_path)  # no model in ./checkpoints
    study = sequence.parse_args(["--synthetic_video", "2", "--study", "--results", "res"])
    assert sequence.find_model(study) == (tiny_model[0], 5) and calls == [("res", True)]
    assert sequence.find_model(sequence.parse_args(["--synthetic_video", "2", "--nIter", "7"])) == (tiny_model[0], 7)
    assert calls[-1] == ("results", False)
    assert sequence.find_model(sequence.parse_args(["--video", "v.mp4"])) == (SHIPPED_MODEL, SearchConfig().nIter)
    given = sequence.parse_args(["--synthetic_video", "2", "--checkpoint_dir", "mine"])
    assert sequence.find_model(given) == ("mine", SearchConfig().nIter) and len(calls) == 2


# ------------------------------------------------------------------ face videos (dlib per frame)

def astronaut_clip(frames=6):
    """skimage's astronaut as a short video: the photo turned by up to 2 degrees a frame and
    moved 2 px right and 1 px down a frame, cropped to 256 x 256 around the face."""
    from PIL import Image

    from helpers import astronaut
    photo = Image.fromarray(astronaut())
    return np.stack([np.asarray(photo.rotate(2.0 * (t - frames // 2), resample=Image.Resampling.BICUBIC,
                                             center=(220, 120), translate=(2 * t, t)))[20:276, 100:356]
                     for t in range(frames)])


def write_frames(folder, frames, names=None):
    from PIL import Image
    folder.mkdir()
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / (names[t] if names else f"frame{t:03d}.png"))
    return folder


@needs_dlib
def test_a_face_video_is_followed_frame_by_frame():
    from inpainting import video
    from facedata.faces import FaceFinder
    frames = astronaut_clip()
    names = [f"frame {t}" for t in range(len(frames))]
    holes = np.ones(frames.shape[:3], np.float32)
    holes[:, 100:130, 70:110] = 0
    finder = FaceFinder(size=32)
    clip = video.face_clip(frames, names, finder, frame_masks=holes)
    assert clip.used == list(range(6)) and clip.skipped == []
    assert clip.inputs.shape == clip.truths.shape == clip.keypoint_maps.shape == (1, 6, 32, 32, 3)
    np.testing.assert_array_equal(clip.frame_masks, holes)
    assert (clip.damaged[:, 100:130, 70:110] == 0).all()
    assert 0 < clip.masks.mean() < 1  # the hole reaches into the face crops
    centres = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in clip.boxes])
    # The face moves 2 px right and 1 px down a frame; the averaged boxes follow it.
    assert abs((centres[-1, 0] - centres[0, 0]) - 10) < 5 and np.abs(np.diff(centres, axis=0)).max() < 6
    # Pasting back fills the holes inside the face box and changes nothing else.
    filled = clip.filled(np.ones(clip.inputs.shape, np.float32))
    np.testing.assert_array_equal(filled[clip.frame_masks > 0.5], clip.damaged[clip.frame_masks > 0.5])
    left, top, right, bottom = clip.boxes[0]
    inside_box_hole = np.zeros(holes.shape[1:], bool)
    inside_box_hole[top:bottom, left:right] = holes[0, top:bottom, left:right] == 0
    assert inside_box_hole.sum() > 100 and (filled[0][inside_box_hole] > 0).any(axis=-1).all()  # all filled


@needs_dlib
def test_a_real_clip_runs_through_the_dlib_path(tiny_model, tmp_path, capsys):
    import json

    import imageio.v3 as iio

    import sequence
    frames = astronaut_clip()
    blank = np.full_like(frames[0], 128)  # a frame without a face: skipped, counted, left as it came
    folder = write_frames(tmp_path / "frames", list(frames[:3]) + [blank] + list(frames[3:]))
    out = tmp_path / "out"
    summary = sequence.main(sequence.parse_args(["--video", str(folder), "--checkpoint_dir", tiny_model[0],
                                                 "--nIter", "3", "--nIter_next", "1", "--outDir", str(out)]))
    assert f"skipped frame003.png of {folder}: no face" in capsys.readouterr().out
    saved = json.loads((out / "summary.json").read_text())
    assert saved["skipped"] == {"frame003.png": "no face"} and saved["frames_with_a_face"] == 6
    assert summary["psnr_after"]["count"] == 6 and summary["steps_per_frame"] == [3, 1, 1, 1, 1, 1]
    inpainted = iio.imread(out / "inpainted.mp4", plugin="FFMPEG")
    assert inpainted.shape == (7, 256, 256, 3)
    assert np.abs(inpainted[3].astype(float) - 128).mean() < 3  # the skipped frame, through H.264
    assert np.abs(inpainted[0, :40].astype(float) - frames[0, :40]).mean() < 3  # above the face: untouched
    assert iio.imread(out / "side_by_side.mp4", plugin="FFMPEG").shape == (7, 256, 768, 3)
    assert iio.imread(out / "inpainted.gif").shape[0] == 7 and (out / "strip0.png").exists()


def test_videos_and_folders_of_frames_are_read_or_refused_in_one_line(tmp_path):
    import pytest

    from inpainting import video
    from utils import UserError, save_mp4
    frames = np.random.default_rng(0).integers(0, 255, (5, 48, 64, 3), dtype=np.uint8)
    save_mp4(str(tmp_path / "clip.mp4"), frames, fps=5)
    read, names, fps, skipped = video.read_frames(str(tmp_path / "clip.mp4"))
    assert read.shape == (5, 48, 64, 3) and fps == 5 and names[4] == "frame 4" and skipped == []
    assert video.read_frames(str(tmp_path / "clip.mp4"), limit=2)[0].shape[0] == 2
    folder = write_frames(tmp_path / "frames", list(frames[:2]) + [frames[2, :40]],
                          ["a.png", "b.png", "c.png"])
    (folder / "d.png").write_text("not an image")
    read, names, _, skipped = video.read_frames(str(folder))
    np.testing.assert_array_equal(read, frames[:2])
    assert names == ["a.png", "b.png"] and [s[0] for s in skipped] == ["c.png", "d.png"]
    assert "64x40, not 64x48" in skipped[0][1] and skipped[1][1].startswith("unreadable")
    (tmp_path / "broken.mp4").write_text("not a video")
    (tmp_path / "empty").mkdir()
    for path, message in (("broken.mp4", "cannot read the video .*broken.mp4"), ("missing.mp4", "does not exist"),
                          ("empty", "no frames .* in the video folder")):
        with pytest.raises(UserError, match=message):
            video.read_frames(str(tmp_path / path))
    with pytest.raises(UserError, match="mask video .*clip.mp4 has 5 frames of 64x48 but the video has 6"):
        video.read_mask_video(str(tmp_path / "clip.mp4"), np.zeros((6, 48, 64, 3), np.uint8))

