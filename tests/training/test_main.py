import json
import os

import numpy as np
import pytest
import tensorflow as tf

import main
import preprocess_train_images
from inpainting.inpaint import load_model
from utils import UserError


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    preprocess_train_images.main(preprocess_train_images.parse_args(
        ["--synthetic", "96", "--size", "64", "--processes", "1", "--output_dir", str(out)]))
    return str(out)


def tiny_args(records_dir, run_dir, *extra):
    return main.parse_args([
        "--train_records", records_dir, "--output_size", "32", "--gf_dim", "8", "--df_dim", "8",
        "--batch_size", "16", "--checkpoint_dir", str(run_dir / "ckpt"), "--sample_dir", str(run_dir / "samples"),
        "--log_dir", str(run_dir / "logs"), "--sampleInterval", "3", "--saveInterval", "3",
        "--print_every", "3", *extra])


def test_tiny_run_writes_outputs_and_resumes(records_dir, tmp_path, capsys):
    trainer = main.main(tiny_args(records_dir, tmp_path, "--max_steps", "6"))
    assert int(trainer.gan.step) == 6
    samples = tmp_path / "samples" / "celebA"
    for name in ("sample_3.png", "sample_6.png", "sampleky_3.png", "sampleky_6.png"):
        assert (samples / name).exists()
    from PIL import Image
    assert Image.open(samples / "sample_6.png").size == (32 * 8, 32 * 8)  # 64 fixed samples, 8x8
    ckpt = tmp_path / "ckpt"
    assert (ckpt / "config.json").exists() and (ckpt / "checkpoint").exists()
    assert any(name.startswith("ckpt-6") for name in os.listdir(ckpt))
    assert os.listdir(tmp_path / "logs")
    weights = trainer.gan.generator.trainable_variables[0].numpy()

    resumed = main.main(tiny_args(records_dir, tmp_path, "--max_steps", "9"))
    assert "resumed from" in capsys.readouterr().out
    assert int(resumed.gan.step) == 9
    assert not np.array_equal(weights, resumed.gan.generator.trainable_variables[0].numpy())
    assert (samples / "sample_9.png").exists()


def test_same_seed_same_model(records_dir, tmp_path):
    a = main.main(tiny_args(records_dir, tmp_path / "a", "--max_steps", "2"))
    b = main.main(tiny_args(records_dir, tmp_path / "b", "--max_steps", "2"))
    for x, y in zip(a.gan.generator.trainable_variables, b.gan.generator.trainable_variables):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_unconditioned_run(records_dir, tmp_path):
    trainer = main.main(tiny_args(records_dir, tmp_path, "--max_steps", "3", "--conditional=False"))
    assert not trainer.config.conditional
    assert (tmp_path / "samples" / "celebA" / "sample_3.png").exists()
    assert not (tmp_path / "samples" / "celebA" / "sampleky_3.png").exists()


def test_checkpoint_of_another_architecture_is_refused(records_dir, tmp_path):
    main.main(tiny_args(records_dir, tmp_path, "--max_steps", "1"))
    with pytest.raises(UserError, match="gf_dim 8 \\(asked 16\\)"):
        main.main(tiny_args(records_dir, tmp_path, "--max_steps", "2", "--gf_dim", "16"))


def test_checkpoint_of_one_arch_is_refused_by_the_other(records_dir, tmp_path):
    main.main(tiny_args(records_dir, tmp_path, "--max_steps", "1", "--arch", "dcgan"))
    with pytest.raises(UserError, match="arch dcgan \\(asked ecgan\\)"):
        main.main(tiny_args(records_dir, tmp_path, "--max_steps", "2"))
    # At inference the folder's config.json decides the architecture; a config.json that does
    # not describe the checkpoint is refused instead of running on random weights.
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(dict(config, arch="ecgan", conditional=True)))
    with pytest.raises(UserError, match="does not hold the ecgan model"):
        load_model(str(tmp_path / "ckpt"))


def test_records_too_small_or_missing(records_dir, tmp_path):
    with pytest.raises(UserError, match="smaller than --output_size 128"):
        main.main(tiny_args(records_dir, tmp_path, "--output_size", "128"))
    with pytest.raises(UserError, match="no TFRecord shards"):
        main.main(tiny_args(str(tmp_path / "none"), tmp_path))
    with pytest.raises(UserError, match="fewer than --batch_size"):
        main.main(tiny_args(records_dir, tmp_path, "--batch_size", "128"))


def every_variable(gan):
    """G, its average, D, both optimisers and the step: the whole training state."""
    return {v.name + str(i): v.numpy() for i, v in enumerate(
        list(gan.generator.variables) + list(gan.generator_average.variables) + list(gan.discriminator.variables)
        + list(gan.g_optimizer.variables) + list(gan.d_optimizer.variables) + [gan.step])}


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(records_dir, tmp_path):
    # Batch 8 of 96 faces: 12 steps per epoch, so the stop at step 6 is mid-epoch.
    main.main(tiny_args(records_dir, tmp_path / "a", "--max_steps", "6", "--batch_size", "8"))
    resumed = main.main(tiny_args(records_dir, tmp_path / "a", "--max_steps", "9", "--batch_size", "8"))
    straight = main.main(tiny_args(records_dir, tmp_path / "b", "--max_steps", "9", "--batch_size", "8"))
    a, b = every_variable(resumed.gan), every_variable(straight.gan)
    assert int(resumed.gan.step) == 9 and a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_nan_stops_the_run_and_saves_the_last_finite_state(records_dir, tmp_path, monkeypatch):
    import model
    from core.configs import ModelConfig, TrainConfig, pick
    from training.loop import GANTrainer
    # uint8 batches hold no NaN, so the step's conversion to floats is poisoned on demand: at
    # the 4th step, inside a compiled call of several steps (print_every 6).
    poison_at, convert = tf.Variable(-1, dtype=tf.int64), model.uint8_to_model_range
    args = tiny_args(records_dir, tmp_path, "--max_steps", "6", "--saveInterval", "100", "--print_every", "6",
                     "--sampleInterval", "100")
    trainer = GANTrainer(pick(ModelConfig, vars(args)), pick(TrainConfig, vars(args)))
    monkeypatch.setattr(model, "uint8_to_model_range", lambda *batches: [
        b + tf.where(trainer.gan.step == poison_at, np.nan, 0.0) for b in convert(*batches)])
    poison_at.assign(3)
    with pytest.raises(UserError, match="d_loss became nan at step 4: stopped before applying it; saved .*ckpt-3"):
        trainer.run()
    assert int(trainer.gan.step) == 3
    assert sorted(n for n in os.listdir(tmp_path / "ckpt") if n.endswith(".index")) == ["ckpt-3.index"]
    # Weights, their average, Adam moments and batch-norm statistics are those of 3 clean steps.
    poison_at.assign(-1)
    straight = main.main(tiny_args(records_dir, tmp_path / "straight", "--max_steps", "3"))
    after, clean = every_variable(trainer.gan), every_variable(straight.gan)
    assert after.keys() == clean.keys()
    for name in after:
        np.testing.assert_array_equal(after[name], clean[name], err_msg=name)
    resumed = main.main(tiny_args(records_dir, tmp_path, "--max_steps", "6", "--saveInterval", "100"))
    assert int(resumed.gan.step) == 6 and all(np.isfinite(v).all() for v in every_variable(resumed.gan).values())


def test_ctrl_c_saves_and_the_run_resumes(records_dir, tmp_path):
    from core.configs import ModelConfig, TrainConfig, pick
    from training.loop import GANTrainer
    args = tiny_args(records_dir, tmp_path, "--max_steps", "6", "--saveInterval", "100", "--print_every", "2")
    trainer = GANTrainer(pick(ModelConfig, vars(args)), pick(TrainConfig, vars(args)))
    real_steps, calls = trainer.gan.train_steps, []

    def interrupted(iterator, count):
        calls.append(int(trainer.gan.step))
        if len(calls) == 3:  # Ctrl-C arrives in Python between compiled calls of steps
            raise KeyboardInterrupt
        return real_steps(iterator, count)

    trainer.gan.train_steps = interrupted
    with pytest.raises(UserError, match="interrupted at step (\\d); saved .*ckpt-\\1\\.") as stop:
        trainer.run()
    assert f"step {calls[-1]};" in str(stop.value) and 2 <= calls[-1] < 6
    assert int(main.main(tiny_args(records_dir, tmp_path, "--max_steps", "6")).gan.step) == 6


def test_inference_needs_the_discriminator_too(records_dir, tmp_path):
    import tensorflow as tf
    from model import GANNetworks, ModelConfig
    config = ModelConfig(output_size=32, gf_dim=8, df_dim=8)
    config.save(tmp_path)
    tf.train.Checkpoint(generator=GANNetworks(config).generator).save(str(tmp_path / "ckpt"))
    with pytest.raises(UserError, match="does not hold the ecgan model its config.json describes.*--checkpoint_dir"):
        load_model(str(tmp_path))


def test_checkpoints_name_weights_under_their_network(records_dir, tmp_path):
    import tensorflow as tf
    main.main(tiny_args(records_dir, tmp_path, "--max_steps", "1"))
    names = [n for n, _ in tf.train.list_variables(tf.train.latest_checkpoint(tmp_path / "ckpt"))]
    assert "generator/conv0/w/.ATTRIBUTES/VARIABLE_VALUE" in names
    assert "discriminator/dense/w/.ATTRIBUTES/VARIABLE_VALUE" in names
    assert not any("targets" in n for n in names)
    assert "g_optimizer/m/conv0..w/.ATTRIBUTES/VARIABLE_VALUE" in names  # slots keyed by the weight's name


def test_records_are_resized_only_when_their_size_differs(records_dir):
    from facedata import dataset, records
    from facedata.keypoints import BACKGROUND
    stored = next(iter(records.read_records(records_dir)))
    images, maps = dataset.first_examples(records_dir, 64, 1)  # the records' own size: untouched
    np.testing.assert_allclose(images[0].numpy(), (stored["image"] / 127.5 - 1).astype(np.float32), atol=1e-6)
    np.testing.assert_allclose(maps[0].numpy(), (stored["keypoint_map"] / 127.5 - 1).astype(np.float32), atol=1e-6)
    images, maps = next(iter(dataset.train_batches(records_dir, 32, 4, 0, 0)))
    assert images.shape == (4, 32, 32, 3) and images.dtype == maps.dtype == tf.uint8  # uint8 until the step
    # Nearest-neighbour for maps: every colour is one the map was drawn with.
    colours = {tuple(c) for c in maps.numpy().reshape(-1, 3)}
    stored_colours = {tuple(c) for c in stored["keypoint_map"].reshape(-1, 3)}
    assert tuple(BACKGROUND) in colours and len(colours) <= 9 and len(stored_colours) <= 9


def test_a_checkpoint_without_the_training_state_infers_but_does_not_resume(records_dir, tmp_path):
    # As a checkpoint of the old layout (optimiser moments by list position): G and D load, the run does not.
    from model import GANNetworks, ModelConfig
    config = ModelConfig(output_size=32, gf_dim=8, df_dim=8)
    config.save(tmp_path / "ckpt")
    GANNetworks(config).checkpoint().save(str(tmp_path / "ckpt" / "ckpt"))
    assert load_model(str(tmp_path / "ckpt")).config == config
    with pytest.raises(UserError, match="cannot resume from .*ckpt-1: it does not hold this run's whole training"):
        main.main(tiny_args(records_dir, tmp_path, "--max_steps", "2"))


def test_losses_come_back_once_per_call_not_once_per_step(records_dir, tmp_path, monkeypatch):
    """Reading the losses back every step stalls a GPU's queue each step: the loop runs many
    steps per compiled call (96 faces at batch 16: calls end at least at each epoch's 6th
    step) and reads the losses of all of them at once."""
    from training import loop as training_loop
    calls, run = [], training_loop.TrainLoop.run

    def counting_run(self, train_steps, *args, **kwargs):
        def counted(iterator, count):
            calls.append(int(count))
            return train_steps(iterator, count)
        return run(self, counted, *args, **kwargs)

    monkeypatch.setattr(training_loop.TrainLoop, "run", counting_run)
    trainer = main.main(tiny_args(records_dir, tmp_path, "--max_steps", "36", "--print_every", "36",
                                  "--sampleInterval", "36", "--saveInterval", "36"))
    assert int(trainer.gan.step) == 36 and sum(calls) == 36
    assert len(calls) <= 10, calls  # 6 epochs; the first call is 1 step, to time one
