import json
import os

import numpy as np
import pytest
from PIL import Image

import preprocess_test_images
import preprocess_train_images
from facedata import faces, preprocess, records
from facedata.synthetic import synthetic_face
from helpers import astronaut, needs_dlib
from utils import UserError


# ------------------------------------------------------------------ loading odd images

def test_load_rgb_handles_modes(tmp_path):
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert faces.load_rgb(tmp_path / "gray.png").shape == (64, 64, 3)

    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :25, 3] = 255  # left half opaque red, right half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = faces.load_rgb(tmp_path / "rgba.png")
    assert out.shape == (40, 50, 3)
    assert tuple(out[0, 0]) == (200, 0, 0) and tuple(out[0, -1]) == (255, 255, 255)

    sixteen = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    Image.fromarray(sixteen).save(tmp_path / "sixteen.png")
    out = faces.load_rgb(tmp_path / "sixteen.png")
    assert out.dtype == np.uint8 and out.max() > 200 and out.shape == (64, 64, 3)


def test_load_rgb_applies_exif_orientation(tmp_path):
    image = Image.new("RGB", (80, 40), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the upright image is 40 wide, 80 tall
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert faces.load_rgb(tmp_path / "rotated.jpg").shape == (80, 40, 3)


@pytest.mark.parametrize("name, content, reason", [
    ("corrupt.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg", "unreadable"),
    ("notes.png", b"hello", "unreadable"),
])
def test_unreadable_files_are_skipped_with_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(faces.Skip) as info:
        faces.load_rgb(tmp_path / name)
    assert info.value.reason == reason


def test_tiny_images_are_skipped(tmp_path):
    Image.new("RGB", (20, 300)).save(tmp_path / "tiny.png")
    with pytest.raises(faces.Skip, match="too small"):
        faces.load_rgb(tmp_path / "tiny.png")


# ------------------------------------------------------------------ crops

def test_clamp_box_keeps_crop_inside_photo():
    assert faces.clamp_box((-20, -5, 90, 300), 100, 200) == (0, 0, 90, 200)


def test_crop_face_moves_landmarks_into_crop():
    image = np.zeros((100, 120, 3), np.uint8)
    image[20:60, 30:70] = 255
    _, _, unit = synthetic_face(0, 0, 1)
    landmarks = 30 + unit * 40  # a face filling the box (30, 20)-(70, 60) after the shift below
    landmarks[:, 1] -= 10
    face = faces.crop_face(image, (30, 20, 70, 60), landmarks, 64)
    assert face.image.shape == (64, 64, 3) and face.box == (30, 20, 70, 60)
    np.testing.assert_allclose(face.landmarks, (unit * 40 + [0, 0] + 0.5) * 1.6 - 0.5, atol=1e-4)
    assert face.image.min() == 255  # the crop holds only the white square
    # A box hanging off the photo is clamped rather than wrapping round.
    edge = faces.crop_face(image, (-30, -10, 40, 50), landmarks, 64)
    assert edge.box == (0, 0, 40, 50)
    assert faces.crop_face(image, (-30, -10, 3, 50), landmarks, 64) is None


# ------------------------------------------------------------------ dlib on a real photo

@needs_dlib
def test_dlib_finds_the_astronauts_face():
    finder = faces.FaceFinder(size=128)
    found = finder.faces(astronaut(), "astronaut")
    # dlib also fires on the mission patch; the face itself must be among the detections.
    face = min(found, key=lambda f: abs(f.box[0] - 175) + abs(f.box[1] - 76))
    left, top, right, bottom = face.box
    assert abs(left - 175) < 15 and abs(top - 76) < 15 and 70 < right - left < 120
    lm = face.landmarks
    assert np.all((lm > -10) & (lm < 150))  # the chin may hang below the dlib box
    assert lm[36:48, 1].mean() < lm[30, 1] < lm[48:68, 1].mean()
    assert lm[36:42, 0].mean() < lm[30, 0] < lm[42:48, 0].mean()


def test_missing_predictor_is_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="landmark model .*missing.dat not found.*face_recognition_models"):
        faces.find_predictor(str(tmp_path / "missing.dat"))


# ------------------------------------------------------------------ TFRecords

def synthetic_args(tmp_path, n, size=32, seed=0, **extra):
    argv = ["--synthetic", str(n), "--size", str(size), "--seed", str(seed), "--processes", "1",
            "--output_dir", str(tmp_path / "out")]
    for key, value in extra.items():
        argv += [f"--{key}", str(value)]
    return argv


def test_train_records_round_trip(tmp_path):
    args = preprocess_train_images.parse_args(synthetic_args(tmp_path, 5))
    summary = preprocess_train_images.main(args)
    assert (summary.images, summary.faces) == (5, 5)
    examples = list(records.read_records(args.output_dir))
    assert len(examples) == 5
    for i, example in enumerate(examples):
        image, keypoint_map, landmarks = synthetic_face(0, i, 32)
        np.testing.assert_array_equal(example["image"], image)
        np.testing.assert_array_equal(example["keypoint_map"], keypoint_map)
        np.testing.assert_allclose(example["landmarks"], landmarks, atol=1e-4)
        assert example["source"] == f"synthetic:0:{i}".encode()
    assert records.record_size(args.output_dir) == (32, 32)
    assert os.path.exists(os.path.join(args.output_dir, "preview.png"))


def test_original_feature_keys_are_written(tmp_path):
    import tensorflow as tf
    image, keypoint_map, landmarks = synthetic_face(0, 0, 32)
    example = tf.train.Example.FromString(records.encode_example(image, keypoint_map, landmarks, "x"))
    keys = set(example.features.feature)
    assert {"image_raw", "landmark_raw", "height", "width", "depth", "landmark_height",
            "landmark_width", "landmark_depth"} <= keys


def test_shards_are_capped_and_a_killed_run_resumes(tmp_path, monkeypatch):
    sources = preprocess.Sources(size=32, synthetic=7, seed=0)
    out = str(tmp_path / "shards")
    real_job = preprocess._synthetic_job

    def dies_at_five(job):
        if job[1] == 5:
            raise KeyboardInterrupt
        return real_job(job)

    sources.job_fn = dies_at_five
    with pytest.raises(UserError, match="resume"):
        preprocess.write_train_records(sources, out, processes=1, shard_size=2)
    # Two full shards survive; the third (faces 4 and 5) was never renamed into place.
    assert sorted(os.listdir(out)) == ["progress.json", "train_00000.tfrecords", "train_00001.tfrecords"]
    assert json.load(open(os.path.join(out, "progress.json")))["sources_done"] == 4

    sources.job_fn = real_job
    summary = preprocess.write_train_records(sources, out, processes=1, shard_size=2)
    assert summary.faces == 7
    shards = sorted(f for f in os.listdir(out) if f.endswith(".tfrecords"))
    assert len(shards) == 4
    names = [e["source"].decode() for e in records.read_records(out)]
    assert names == [f"synthetic:0:{i}" for i in range(7)]


def test_other_inputs_into_same_folder_need_overwrite(tmp_path):
    preprocess_train_images.main(preprocess_train_images.parse_args(synthetic_args(tmp_path, 3)))
    with pytest.raises(UserError, match="--overwrite"):
        preprocess_train_images.main(preprocess_train_images.parse_args(synthetic_args(tmp_path, 4)))
    summary = preprocess_train_images.main(
        preprocess_train_images.parse_args(synthetic_args(tmp_path, 4) + ["--overwrite"]))
    assert summary.faces == 4


def test_two_processes_give_the_same_records(tmp_path):
    one = preprocess_train_images.parse_args(synthetic_args(tmp_path / "a", 6))
    two = preprocess_train_images.parse_args(synthetic_args(tmp_path / "b", 6))
    two.processes = 2
    preprocess_train_images.main(one)
    preprocess_train_images.main(two)
    a = [e["image"] for e in records.read_records(one.output_dir)]
    b = [e["image"] for e in records.read_records(two.output_dir)]
    assert len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_empty_folders_give_clear_errors(tmp_path):
    with pytest.raises(UserError, match="no images .* in"):
        faces.list_images(str(tmp_path))
    with pytest.raises(UserError, match="does not exist"):
        faces.list_images(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="preprocess_train_images"):
        records.shard_files(str(tmp_path))


# ------------------------------------------------------------------ test pairs from photos

@needs_dlib
def test_photo_folder_with_bad_files_is_summarised(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    face = astronaut()[40:220, 130:310]
    Image.fromarray(np.concatenate([face, face], axis=1)).save(photos / "two_faces.png")
    Image.fromarray(face).convert("L").save(photos / "gray_face.jpg")
    Image.fromarray(face).convert("RGBA").save(photos / "rgba_face.png")
    Image.new("RGB", (200, 200), (90, 120, 150)).save(photos / "no_face.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    Image.new("RGB", (10, 10)).save(photos / "tiny.png")
    out = tmp_path / "pairs"
    args = preprocess_test_images.parse_args(["--input_dir", str(photos), "--output_dir", str(out),
                                              "--processes", "1"])
    summary = preprocess_test_images.main(args)
    assert (summary.images, summary.with_faces, summary.faces) == (6, 3, 4)
    assert dict(summary.skipped) == {"unreadable": 1, "no face": 1, "too small": 1}
    printed = capsys.readouterr()
    assert "broken.jpg" in printed.err + printed.out and "no_face.png" in printed.err + printed.out
    manifest = json.load(open(out / "manifest.json"))
    assert manifest["complete"] and len(manifest["faces"]) == 4
    two = [e for e in manifest["faces"] if e["source"].endswith("two_faces.png")]
    assert sorted(e["face"] for e in two) == [0, 1] and len({e["image"] for e in two}) == 2
    for entry in manifest["faces"]:
        assert Image.open(out / entry["image"]).size == (128, 128)
        assert Image.open(out / entry["keypoint_map"]).size == (128, 128)


def test_synthetic_test_pairs_match_the_generator(tmp_path):
    args = preprocess_test_images.parse_args(synthetic_args(tmp_path, 3, size=64, seed=1))
    preprocess_test_images.main(args)
    out = tmp_path / "out"
    for i in range(3):
        image, keypoint_map, _ = synthetic_face(1, i, 64)
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"img{i}.png")), image)
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"ky{i}.png")), keypoint_map)
    # A second run of the same command finds the work done and changes nothing.
    before = os.path.getmtime(out / "img0.png")
    preprocess_test_images.main(args)
    assert os.path.getmtime(out / "img0.png") == before


def test_throughput_separates_start_up_from_steady_state(tmp_path):
    summary = preprocess_train_images.main(preprocess_train_images.parse_args(synthetic_args(tmp_path, 12)))
    start_up, steady = summary.throughput
    assert 0 <= start_up < 5 and steady > 1  # faces per second once the first one is out
    few = preprocess_train_images.main(preprocess_train_images.parse_args(synthetic_args(tmp_path / "few", 3)))
    assert few.throughput is None  # too few results to tell a steady state


def test_a_split_by_identity_keeps_each_person_in_one_split(tmp_path):
    import split_identities
    from facedata.identities import SPLITS
    photos = tmp_path / "photos"
    photos.mkdir()
    lines = ["image identity"]  # CelebA's header line
    for i in range(1, 121):
        Image.new("RGB", (40, 40), (i, 0, 0)).save(photos / f"{i:06d}.png")
        lines.append(f"{i:06d}.png {i % 40}")  # 40 people, 3 photos each
    Image.new("RGB", (40, 40)).save(photos / "stranger.png")  # not in the identity file
    (tmp_path / "identity.txt").write_text("\n".join(lines) + "\n")
    argv = ["--input_dir", str(photos), "--identities", str(tmp_path / "identity.txt"),
            "--output_dir", str(tmp_path / "split"), "--val_fraction", "0.2", "--test_fraction", "0.2"]
    counts = split_identities.main(split_identities.parse_args(argv))
    assert counts["no identity"] == 1 and sum(counts[s] for s in SPLITS) == 120
    person = dict(line.split() for line in lines[1:])
    people = {s: {person[n] for n in os.listdir(tmp_path / "split" / s / "images")} for s in SPLITS}
    assert all(people[s] for s in SPLITS)  # each split has someone at these fractions
    assert not (people["train"] & people["test"]) and not (people["train"] & people["val"])
    assert not (people["val"] & people["test"])
    link = next((tmp_path / "split" / "test" / "images").iterdir())
    assert link.is_symlink() and np.asarray(Image.open(link)).shape == (40, 40, 3)  # the photo, not a copy
    assert split_identities.main(split_identities.parse_args(argv)) == counts  # again: the same split
    with pytest.raises(UserError, match="identity file .* not found"):
        split_identities.main(split_identities.parse_args(argv[:2] + ["--identities", "missing.txt"]))


def test_a_photo_in_several_folders_is_taken_once_from_its_sharpest_copy(tmp_path):
    """Copies of one collection at different resolutions: each file name is linked once, to
    the copy whose face dlib finds widest; the choice is recorded in split.json."""
    pytest.importorskip("dlib")
    import json

    import split_identities
    from helpers import astronaut
    photo = Image.fromarray(astronaut())
    small, large = tmp_path / "half_size", tmp_path / "full_size"
    small.mkdir()
    large.mkdir()
    photo.resize((256, 256)).save(small / "000001.jpg")
    photo.save(large / "000001.jpg")
    photo.resize((200, 200)).save(small / "000002.jpg")  # only in one folder
    (tmp_path / "identity.txt").write_text("000001.jpg 7\n000002.jpg 8\n")
    argv = ["--input_dir", str(small), str(large), "--identities", str(tmp_path / "identity.txt"),
            "--output_dir", str(tmp_path / "split"), "--test_fraction", "0", "--val_fraction", "0"]
    counts = split_identities.main(split_identities.parse_args(argv))
    assert counts["train"] == 2 and counts["duplicates"] == 1
    links = {p.name: os.path.realpath(p) for p in (tmp_path / "split" / "train" / "images").iterdir()}
    assert links == {"000001.jpg": str(large / "000001.jpg"), "000002.jpg": str(small / "000002.jpg")}
    record = json.loads((tmp_path / "split" / "split.json").read_text())
    widths = record["duplicate_face_widths"]["000001.jpg"]
    assert widths[str(large / "000001.jpg")] > 1.5 * widths[str(small / "000001.jpg")] > 0


@needs_dlib
def test_test_pairs_of_damaged_photos_carry_their_masks_and_estimated_maps(tmp_path, tiny_model, capsys):
    """--mask_dir: a photo that came damaged, with its mask, becomes a pair with the holes
    black, the map from the estimated landmarks (closer to the undamaged photo's than dlib's
    guess on the damaged one) and mask{N}.png; a photo without a mask, or with one of another
    size, is a counted skip; complete.py fills the pairs under their own masks and does not
    pretend to measure them."""
    import complete
    from facedata.faces import FaceFinder, to_crop
    from inpainting.masks import make_mask
    from inpainting.photo import mask_on_box
    from paper.keypoint_study import hidden_truth
    photo, box = astronaut(), (175, 76, 266, 167)
    photo_mask = mask_on_box(make_mask("checkboard", 64), box, *photo.shape[:2])
    (tmp_path / "photos").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray((photo * photo_mask[..., None]).astype(np.uint8)).save(tmp_path / "photos" / "damaged.png")
    Image.fromarray((photo_mask * 255).astype(np.uint8)).save(tmp_path / "masks" / "damaged.png")
    Image.fromarray(photo).save(tmp_path / "photos" / "no_mask.png")
    Image.fromarray(photo).save(tmp_path / "photos" / "small_mask.png")
    small = np.full((50, 50), 255, np.uint8)
    small[10:20, 10:20] = 0
    Image.fromarray(small).save(tmp_path / "masks" / "small_mask.png")
    out = tmp_path / "pairs"
    summary = preprocess_test_images.main(preprocess_test_images.parse_args([
        "--input_dir", str(tmp_path / "photos"), "--mask_dir", str(tmp_path / "masks"), "--output_dir", str(out),
        "--size", "64", "--processes", "1"]))
    assert summary.faces == 1 and summary.skipped == {"no mask": 1, "mask of another size": 1}
    entry = json.loads((out / "manifest.json").read_text())["faces"][0]
    assert entry["source"].endswith("damaged.png") and tuple(entry["box"]) == box and entry["mask"] == "mask0.png"
    mask = np.asarray(Image.open(out / "mask0.png")) > 127
    assert 0.4 < (~mask).mean() < 0.65  # the checkboard's two quadrants, and the ring the resampling blurs
    assert ((np.asarray(Image.open(out / "img0.png"))[~mask] < 40).all(axis=-1)).mean() > 0.8  # black holes
    clean = to_crop(FaceFinder(None, 64).landmarks_in_box(photo, box), box, 64)
    guess = to_crop(FaceFinder(None, 64).landmarks_in_box(np.asarray(Image.open(tmp_path / "photos" / "damaged.png")),
                                                           box), box, 64)
    hidden = hidden_truth(clean[None], np.asarray(Image.open(out / "mask0.png"), np.float32)[None] / 255)[0]
    errors = [np.linalg.norm(p - clean, axis=1)[hidden].mean() for p in (np.array(entry["landmarks"]), guess)]
    assert hidden.sum() > 10 and errors[0] < 0.7 * errors[1]
    ckpt = tiny_model[0]
    result = complete.main(complete.parse_args(["--checkpoint_dir", ckpt, "--test_dir", str(out), "--outDir",
                                                str(tmp_path / "out"), "--batch_size", "2", "--nIter", "2",
                                                "--output_size", "32"]))
    assert "come from damaged photos" in capsys.readouterr().out and "psnr_after_blending" not in result
    assert (tmp_path / "out" / "completed" / "0_blended.png").exists()
    assert not (tmp_path / "out" / "psnr_after.npy").exists()
