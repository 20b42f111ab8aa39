"""The real-face models that ship in models/celeba64: they load, their card states what
they are, the commands that take a photo use them by default, and on a real photo the
conditioned model fills a hole better than a flat grey fill would."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import app
import complete
import sequence
from core.configs import MEAN_FACE_FILE, MODEL_FOLDERS, SHIPPED_MODEL, SHIPPED_MODELS, SearchConfig
from helpers import astronaut, needs_dlib
from inpainting.inpaint import load_model, trained_steps

CARD = os.path.join(SHIPPED_MODELS, "MODEL_CARD.md")
SHIPPED = {MODEL_FOLDERS["conditioned"]: ("ecgan", True), MODEL_FOLDERS["dip"]: ("dcgan", False)}


def card_row(folder):
    with open(CARD) as f:
        rows = [line for line in f if line.startswith(f"| `{folder}/` |")]
    assert len(rows) == 1, f"MODEL_CARD.md has no single row for {folder}/"
    return rows[0]


@pytest.mark.parametrize("folder", sorted(SHIPPED))
def test_a_shipped_model_loads_with_averaged_weights_and_its_card_says_what_it_is(folder):
    path = os.path.join(SHIPPED_MODELS, folder)
    gan = load_model(path)
    arch, conditional = SHIPPED[folder]
    c = gan.config
    assert (c.arch, c.conditional, c.output_size) == (arch, conditional, 64)
    assert gan.generator_weights == "average"
    steps = trained_steps(path)
    row = card_row(folder)
    assert f"{c.output_size}x{c.output_size}" in row and arch.upper() in row.upper()
    assert f"gf_dim {c.gf_dim}, df_dim {c.df_dim}" in row and f"{steps:,} steps" in row, row
    k = c.up_kernel
    upsampling = f"resize x2 + {k}x{k} conv" if c.upsample == "resize" else f"{k}x{k} stride-2 transposed convs"
    assert upsampling in row, (upsampling, row)
    with open(os.path.join(SHIPPED_MODELS, "training.json")) as f:
        trained = json.load(f)
    assert trained["steps"][folder] == steps and trained["output_size"] == c.output_size
    assert f"{trained['train_steps']:,} training steps at batch {trained['batch_size']}" in open(CARD).read()


def test_the_shipped_weights_are_small_and_hold_no_training_data():
    files = [os.path.join(root, name) for root, _, names in os.walk(SHIPPED_MODELS) for name in names]
    assert sum(os.path.getsize(f) for f in files) < 60 << 20
    assert not [f for f in files if f.endswith((".tfrecords", ".jpg"))]
    mean = np.load(os.path.join(SHIPPED_MODELS, MEAN_FACE_FILE))
    assert mean.shape == (64, 64, 3) and -1 <= mean.min() and mean.max() <= 1


def test_photos_videos_and_the_page_use_the_shipped_model_by_default():
    assert complete.parse_args(["--image", "x.jpg"]).checkpoint_dir is None  # resolved in main, below
    assert app.parse_args([]).checkpoint_dir is None
    assert sequence.find_model(sequence.parse_args(["--video", "v.mp4"])) == (SHIPPED_MODEL, SearchConfig().nIter)
    assert os.path.isfile(os.path.join(SHIPPED_MODEL, "config.json"))


@needs_dlib
def test_complete_on_a_real_photo_with_the_default_model_beats_a_grey_fill(tmp_path, monkeypatch):
    from inpainting import inpaint
    from facedata.faces import FaceFinder
    from inpainting.photo import damage
    photo = astronaut()
    Image.fromarray(photo).save(tmp_path / "astronaut.png")
    loaded = []
    monkeypatch.setattr(inpaint, "load_model", lambda path, *a, **k: loaded.append(path) or load_model(path, *a, **k))
    complete.main(complete.parse_args(["--image", str(tmp_path / "astronaut.png"), "--nIter", "300",
                                       "--outDir", str(tmp_path / "out")]))
    assert loaded == [SHIPPED_MODEL]
    out = np.asarray(Image.open(tmp_path / "out" / "astronaut_inpainted.png")).astype(np.float64)
    assert out.shape == photo.shape  # the whole photo, full size
    _, photo_mask, _ = damage(photo, FaceFinder(None, 64), 64)  # the center hole complete.py made
    hole, truth = photo_mask < 0.5, photo.astype(np.float64)
    assert 500 < hole.sum() < photo.shape[0] * photo.shape[1] // 10
    assert np.array_equal(out[~hole], truth[~hole])  # only the hole changes
    error = np.abs(out[hole] - truth[hole]).mean()
    grey = np.abs(127.5 - truth[hole]).mean()
    assert error < 0.75 * grey, (error, grey)
