"""tf.distribute: N replicas train as one device at the same global batch, resume, and a
multi-worker run on this host leaves one checkpoint complete.py loads.

Virtual devices and multi-worker strategies are fixed when TensorFlow starts, so those
runs are separate processes (the scripts, as a user runs them)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import main
import train_encoder
from core import distribute
from facedata import dataset
from helpers import ROOT
from utils import UserError



def run(*argv, env=None, timeout=300):
    """Run a script of the repository; its output when it succeeds."""
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def train(records, run_dir, steps, *extra, script="main.py"):
    return run(script, "--train_records", records, "--output_size", "32", "--gf_dim", "8", "--df_dim", "8",
               "--batch_size", "8", "--max_steps", str(steps), "--checkpoint_dir", str(run_dir / "ckpt"),
               "--sample_dir", str(run_dir / "samples"), "--log_dir", str(run_dir / "logs"), "--print_every", "1",
               *extra)


def checkpoint_values(directory):
    reader = tf.train.load_checkpoint(str(directory))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "VARIABLE_VALUE" in name and not name.startswith("save_counter")}


# The bias of a conv followed by batch norm has a gradient of exactly 0 (the norm subtracts
# it again), so what it gets is rounding, summed in another order on 2 replicas; Adam scales
# that to steps of about the learning rate. Those biases, and the moving means that carry
# them, are compared through what the networks compute with batch statistics (where the
# norm cancels them exactly) instead.
CANCELLED_BY_BATCH_NORM = re.compile(r"(conv0|down/\d+|up/[012]|convs/[1-9]\d*)/b/\.|/moving_mean/")


def assert_same_state(a, b, outputs, atol=1e-4):
    """Every variable of the two checkpoints within atol, but the ones above, and the
    outputs(directory) of the networks restored from each."""
    values_a, values_b = checkpoint_values(a), checkpoint_values(b)
    assert values_a.keys() == values_b.keys() and len(values_a) > 30
    compared = [n for n in values_a if not CANCELLED_BY_BATCH_NORM.search(n)]
    assert len(compared) > 0.8 * len(values_a)
    worst = max(compared, key=lambda n: np.max(np.abs(values_a[n].astype(np.float64) - values_b[n])))
    assert np.max(np.abs(values_a[worst].astype(np.float64) - values_b[worst])) <= atol, worst
    for x, y in zip(outputs(a), outputs(b)):
        np.testing.assert_allclose(x, y, atol=atol)


def gan_outputs(directory):
    """G's faces for fixed z and maps, and D's logits for them, with batch statistics."""
    from inpainting.inpaint import load_model
    gan = load_model(str(directory))
    rng = np.random.default_rng(0)
    z = tf.constant(rng.uniform(-1, 1, (8, 100)), tf.float32)
    maps = tf.constant(rng.uniform(-1, 1, (8, 32, 32, 3)), tf.float32)
    faces = gan.generator(z, maps, training=True)
    return faces.numpy(), gan.discriminator(faces, maps, training=True).numpy()


@pytest.fixture(scope="module")
def records(tiny_model):
    return tiny_model[2]


def test_two_virtual_devices_train_and_resume_as_one_device(records, tmp_path):
    one = tmp_path / "one"
    train(records, one, 3)
    two = tmp_path / "two"
    first = train(records, two, 2, "--distribute", "mirrored", "--virtual_devices", "2")
    assert "batch 8 over 2 replicas" in first
    resumed = train(records, two, 3, "--distribute", "mirrored", "--virtual_devices", "2")
    assert "resumed from" in resumed and "ckpt-2 at step 2" in resumed
    # Weights, Adam moments, synchronised batch-norm statistics and the step counter.
    assert_same_state(one / "ckpt", two / "ckpt", gan_outputs)
    assert checkpoint_values(two / "ckpt")["step/.ATTRIBUTES/VARIABLE_VALUE"] == 3


def test_batch_norm_statistics_are_those_of_the_global_batch(records, tmp_path):
    # Without synchronisation each replica would normalise its 4 faces by their own statistics;
    # the moving averages after one step show which batch they came from.
    one, two = tmp_path / "one", tmp_path / "two"
    train(records, one, 1)
    train(records, two, 1, "--distribute", "mirrored", "--virtual_devices", "2")
    a, b = checkpoint_values(one / "ckpt"), checkpoint_values(two / "ckpt")
    variances = [n for n in a if "moving_variance" in n]
    assert len(variances) >= 10
    for name in variances:
        np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=name)


def test_two_workers_on_localhost_leave_one_checkpoint_that_complete_loads(records, tiny_model, tmp_path):
    out = run("launch_workers.py", "--workers", "2", "main.py", "--train_records", records, "--output_size", "32",
              "--gf_dim", "8", "--df_dim", "8", "--batch_size", "8", "--max_steps", "3", "--saveInterval", "2",
              "--checkpoint_dir", str(tmp_path / "ckpt"), "--sample_dir", str(tmp_path / "samples"),
              "--log_dir", str(tmp_path / "logs"), "--print_every", "1", "--distribute", "multi_worker")
    assert out.count("step 3/3") == 1  # the chief alone reports
    files = sorted(os.listdir(tmp_path / "ckpt"))
    assert "ckpt-3.index" in files and "config.json" in files and not [f for f in files if ".worker" in f]
    assert os.listdir(tmp_path / "samples" / "celebA")
    # Two workers of one replica each train as one device at the global batch.
    train(records, tmp_path / "one", 3, "--saveInterval", "2")
    assert_same_state(tmp_path / "ckpt", tmp_path / "one" / "ckpt", gan_outputs)
    summary = run("complete.py", "--checkpoint_dir", str(tmp_path / "ckpt"), "--test_dir", tiny_model[1],
                  "--outDir", str(tmp_path / "completions"), "--nIter", "2", "--limit", "4", "--batch_size", "4")
    assert "PSNR" in summary and (tmp_path / "completions" / "summary.json").exists()


def test_the_encoder_trains_on_two_virtual_devices_as_on_one(tiny_model, tmp_path):
    ckpt, _, records = tiny_model
    for name, extra in (("one", []), ("two", ["--distribute", "mirrored", "--virtual_devices", "2"])):
        os.makedirs(tmp_path / name)
        for f in os.listdir(ckpt):  # the trained GAN, without any encoder trained on it
            if os.path.isfile(os.path.join(ckpt, f)):
                os.link(os.path.join(ckpt, f), tmp_path / name / f)
        run("train_encoder.py", "--checkpoint_dir", str(tmp_path / name), "--train_records", records,
            "--steps", "3", "--batch_size", "8", *extra)
    assert_same_state(tmp_path / "one" / "encoder", tmp_path / "two" / "encoder", encoder_outputs)


def encoder_outputs(directory):
    """The encoder's z for fixed faces, masks and maps, with batch statistics."""
    from inpainting.encoder import load_encoder, mask_bank
    from inpainting.inpaint import load_model
    gan_dir = os.path.dirname(str(directory))
    encoder = load_encoder(gan_dir, load_model(gan_dir))
    rng = np.random.default_rng(0)
    faces = tf.constant(rng.uniform(-1, 1, (8, 32, 32, 3)), tf.float32)
    return [encoder(faces, tf.constant(mask_bank(32)[:8]), faces, training=True).numpy()]


def test_each_replica_reads_its_rows_of_the_global_batch(records):
    whole = [x.numpy() for x, _ in dataset.train_batches(records, 32, 8, 0, 0).take(3)]
    for first, local, total in ((0, 1, 2), (1, 1, 2), (0, 2, 2), (2, 2, 4)):
        parts = [x.numpy() for x, _ in dataset.train_batches(records, 32, 8, 0, 0, replicas=(first, local, total))
                 .take(3 * local)]
        rows = 8 // total
        for step, batch in enumerate(whole):
            for i in range(local):
                replica = first + i
                np.testing.assert_array_equal(parts[step * local + i], batch[replica * rows:(replica + 1) * rows])
    streamed = next(iter(dataset.train_batches(records, 32, 8, 0, 0, replicas=(1, 1, 2), in_memory=False)))[0]
    np.testing.assert_array_equal(streamed.numpy(), whole[0][4:])


def test_bad_distribution_settings_are_one_clear_line(records, tmp_path, monkeypatch):
    from core.configs import ModelConfig, TrainConfig, pick
    from training.loop import GANTrainer
    args = main.parse_args(["--train_records", records, "--output_size", "32", "--gf_dim", "8", "--df_dim", "8",
                            "--checkpoint_dir", str(tmp_path / "ckpt"), "--batch_size", "7", "--xla"])
    strategy = distribute.make_strategy("none")

    class TwoReplicas:
        num_replicas_in_sync = 2
    with pytest.raises(UserError, match="--batch_size 7 .* does not split over 2 replicas"):
        distribute.check_batch(7, TwoReplicas())
    args.batch_size = 8
    with pytest.raises(UserError, match="--xla compiles one device's step"):
        GANTrainer(pick(ModelConfig, vars(args)), pick(TrainConfig, vars(args)), strategy=_Replicated(strategy))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="--distribute multi_worker needs TF_CONFIG"):
        main.main(main.parse_args(["--distribute", "multi_worker"]))
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(UserError, match="TF_CONFIG is not a cluster TensorFlow can use"):
        main.main(main.parse_args(["--distribute", "multi_worker"]))
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(UserError, match="TensorFlow had already started its devices"):
        train_encoder.main(train_encoder.parse_args(["--virtual_devices", "3"]))
    monkeypatch.setattr(distribute, "make_strategy", lambda *a: strategy)
    with pytest.raises(UserError, match="--synthetic with --distribute multi_worker"):
        main.main(main.parse_args(["--distribute", "multi_worker", "--synthetic", "10"]))
    assert not os.path.exists(tmp_path / "ckpt")


class _Replicated:
    """The one-device strategy, claiming two replicas (for refusals decided before any step)."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.num_replicas_in_sync = 2

    def __getattr__(self, name):
        return getattr(self.strategy, name)
