"""The averaged generator, several steps per compiled call, the measures of a fill, the
search's stateless starts and runs in worker processes."""
import os

import numpy as np
import pytest
import tensorflow as tf

from model import KeypointGAN, ModelConfig, named_variables
from utils import UserError

TINY = dict(output_size=32, gf_dim=8, df_dim=8)


def batches(count, batch=8, seed=0):
    rng = np.random.default_rng(seed)
    shape = (count, batch, 32, 32, 3)
    return tf.constant(rng.integers(0, 256, shape, np.uint8)), tf.constant(rng.integers(0, 256, shape, np.uint8))


def values(module):
    return {k: v.numpy() for k, v in named_variables(module, trainable_only=False).items()}


def test_several_steps_per_call_are_the_steps_one_at_a_time():
    images, maps = batches(5)
    one, many = KeypointGAN(ModelConfig(**TINY), ema_decay=0.9), KeypointGAN(ModelConfig(**TINY), ema_decay=0.9)
    losses = [one.train_step(images[i], maps[i]) for i in range(5)]
    got, finite = many.train_steps(iter(tf.data.Dataset.from_tensor_slices((images, maps))), tf.constant(5))
    assert int(finite) == 5 and int(many.step) == 5
    np.testing.assert_array_equal(got["g_loss"].numpy(), [float(x["g_loss"]) for x in losses])
    for module in ("generator", "generator_average", "discriminator", "g_optimizer"):
        a, b = values(getattr(one, module)), values(getattr(many, module))
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{module}/{name}")


def test_the_average_follows_g_with_a_warm_up():
    gan = KeypointGAN(ModelConfig(**TINY), ema_decay=0.99)
    images, maps = batches(3)
    average = values(gan.generator)
    for step in range(3):
        gan.train_step(images[step], maps[step])
        decay = min(0.99, (1 + step) / (10 + step))  # 0.1, 0.18, 0.25: the initial weights fade at once
        weights = values(gan.generator)
        average = {k: decay * average[k] + (1 - decay) * weights[k] for k in named_variables(gan.generator)}
    got = values(gan.generator_average)
    for name in average:
        np.testing.assert_allclose(got[name], average[name], rtol=1e-5, atol=1e-7, err_msg=name)
    assert not np.allclose(got["conv0.w"], values(gan.generator)["conv0.w"])


def test_recalibration_measures_the_averaged_generators_statistics():
    from model import RECALIBRATION_BATCH
    gan = KeypointGAN(ModelConfig(**TINY), ema_decay=0.99)
    images, maps = batches(2, batch=RECALIBRATION_BATCH)
    gan.train_step(images[0][:8], maps[0][:8])
    gan.recalibrate(tf.concat([maps[0], maps[1]], 0))  # two batches
    # The first norm's statistics: the mean over the two batches of each batch's own (in
    # training mode), with the z the recalibration draws for batch i from (seed, -1 - i).
    means, variances = [], []
    for i in range(2):
        z = tf.random.stateless_uniform([RECALIBRATION_BATCH, 100], tf.constant([0, -1 - i], tf.int64), -1.0, 1.0)
        first = gan.generator_average.first_conv(z, tf.cast(maps[i], tf.float32) / 127.5 - 1)
        mean, variance = tf.nn.moments(first, [0, 1, 2])
        means.append(mean.numpy())
        variances.append(variance.numpy())
    norm = gan.generator_average.norms[0]
    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean(means, 0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(norm.moving_variance.numpy(), np.mean(variances, 0), rtol=1e-4, atol=1e-7)
    # A function of the averaged weights and the maps alone, not of the statistics before.
    state = values(gan.generator_average)
    gan.recalibrate(maps[1])
    gan.recalibrate(tf.concat([maps[0], maps[1]], 0))
    for name, value in values(gan.generator_average).items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)


def test_checkpoints_keep_the_average_and_inference_uses_it(tmp_path):
    import main
    from inpainting.inpaint import load_model
    import preprocess_train_images
    records = tmp_path / "records"
    preprocess_train_images.main(preprocess_train_images.parse_args(
        ["--synthetic", "48", "--size", "32", "--processes", "1", "--output_dir", str(records)]))
    common = ["--train_records", str(records), "--output_size", "32", "--gf_dim", "8", "--df_dim", "8",
              "--batch_size", "16", "--max_steps", "4", "--sample_dir", str(tmp_path / "samples"),
              "--log_dir", str(tmp_path / "logs"), "--sampleInterval", "4"]
    trainer = main.main(main.parse_args(common + ["--checkpoint_dir", str(tmp_path / "avg")]))
    names = [n for n, _ in tf.train.list_variables(tf.train.latest_checkpoint(tmp_path / "avg"))]
    assert "generator_average/conv0/w/.ATTRIBUTES/VARIABLE_VALUE" in names
    assert (tmp_path / "samples" / "celebA" / "sample_average_4.png").exists()
    average, raw = load_model(str(tmp_path / "avg")), load_model(str(tmp_path / "avg"), generator="raw")
    assert (average.generator_weights, raw.generator_weights) == ("average", "raw")
    np.testing.assert_array_equal(average.generator.conv0.w.numpy(), trainer.gan.generator_average.conv0.w.numpy())
    np.testing.assert_array_equal(raw.generator.conv0.w.numpy(), trainer.gan.generator.conv0.w.numpy())
    np.testing.assert_array_equal(average.generator.norms[2].moving_variance.numpy(),
                                  trainer.gan.generator_average.norms[2].moving_variance.numpy())
    # The paper's setting: no average kept; inference then loads G's own weights.
    main.main(main.parse_args(common + ["--checkpoint_dir", str(tmp_path / "paper"), "--ema_decay", "0"]))
    assert load_model(str(tmp_path / "paper")).generator_weights == "raw"
    with pytest.raises(UserError, match="unknown --generator best"):
        load_model(str(tmp_path / "paper"), generator="best")


def test_a_face_starts_from_the_same_z_whatever_ran_before(tiny_model, tmp_path):
    from facedata import dataset
    from paper import evaluation
    from inpainting import masks
    from core.configs import SearchConfig
    from inpainting.inpaint import LatentSearch, load_model, random_starts
    np.testing.assert_array_equal(random_starts(3, 5, 2, 100)[1], random_starts(3, 6, 1, 100)[0])
    gan = load_model(tiny_model[0])
    images, maps, names = dataset.load_test_pairs(tiny_model[1], 32)
    left = masks.masks_for(len(images), 32, "left")

    def left_psnr(search, out):
        summary = evaluation.correctness(gan, search, images, maps, left, str(out), mask_name="left")
        return summary["psnr_after_blending"]

    alone = left_psnr(LatentSearch(gan, SearchConfig(batch_size=4, nIter=3)), tmp_path / "alone")
    search = LatentSearch(gan, SearchConfig(batch_size=4, nIter=3))
    evaluation.correctness(gan, search, images, maps, masks.masks_for(len(images), 32, "center"),
                           str(tmp_path / "center"), mask_name="center")
    assert left_psnr(search, tmp_path / "after") == alone  # as `experiments.py --masks left` and the full run


def test_measures_of_a_fill():
    from inpainting.metrics import laplacian_energy, ssim
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(0)
    truth = rng.uniform(-0.8, 0.8, (4, 8, 8, 3)).repeat(4, axis=1).repeat(4, axis=2)  # 4 px blocks: edges
    holes = np.ones((4, 32, 32))
    holes[:, 8:24, 8:24] = 0
    hole = holes[..., None] == 0
    speckled = truth + np.where(hole, rng.choice([-0.2, 0.2], truth.shape), 0)
    smooth = np.where(hole, gaussian_filter(truth, (0, 2, 2, 0)), truth)  # a blurred fill
    base = laplacian_energy(truth, holes)
    assert np.all(laplacian_energy(speckled, holes) > 2 * base) and np.all(laplacian_energy(smooth, holes) < base / 2)
    np.testing.assert_allclose(laplacian_energy(truth, np.ones((4, 32, 32))), 0)  # no hole, nothing to measure
    np.testing.assert_allclose(ssim(truth, truth), 1, atol=1e-6)
    noisier = truth + np.where(hole, rng.choice([-0.4, 0.4], truth.shape), 0)
    assert np.all(ssim(noisier, truth) < ssim(speckled, truth)) and np.all(ssim(speckled, truth) < 0.99)
    assert np.all(ssim(smooth, truth) < 0.99)


def _square(x):
    print(f"squaring {x}")
    if x < 0:
        raise UserError(f"no negative numbers ({x})")
    return x * x, os.environ["TF_NUM_INTRAOP_THREADS"], os.nice(0)


def test_jobs_run_in_one_thread_workers_and_a_failure_names_its_log(tmp_path, capsys):
    from training.jobs import ONE_OP_AT_A_TIME, YIELDING, Job, run_jobs
    logs = [str(tmp_path / f"job{i}.log") for i in range(3)]
    jobs = [Job("job 2", _square, (2,), logs[2], after="job 0"), Job("job 0", _square, (0,), logs[0]),
            Job("job 1", _square, (1,), logs[1], env=ONE_OP_AT_A_TIME, nice=YIELDING)]
    timings = {}
    ours = os.nice(0)
    yielding = min(ours + YIELDING, 19)
    # in the order given, whatever ran first; the yielding job at a lower priority, the others at ours
    assert run_jobs(jobs, 2, timings) == [(4, "1", ours), (0, "1", ours), (1, "1", yielding)]
    assert set(timings) == {"job 0", "job 1", "job 2"}
    assert all(0 <= start <= end for start, end in timings.values())
    assert timings["job 2"][0] >= timings["job 0"][1]  # it waited for job 0
    out = capsys.readouterr().out
    assert "squaring 2" in open(logs[2]).read() and out.index("job 0: done") < out.index("job 2: done")
    with pytest.raises(UserError, match=f"job -1 failed: no negative numbers \\(-1\\) \\(its log: {logs[0]}\\)"):
        run_jobs([Job("job -1", _square, (-1,), logs[0])], 1)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_time_left_comes_from_the_speed_measured_and_is_right_a_quarter_of_the_way_in():
    """A run of 12,000 units: 40 s of start-up with nothing done, then chunks whose speed
    wanders +-20% around this machine's (unknown to the estimate, which only sees the
    clock and the work done); at a quarter of the work the estimate is within 25% of the
    time that is really left, and every estimate comes from measured speed (a machine twice
    as slow gets twice the time)."""
    from utils import Eta
    rng = np.random.default_rng(0)
    for units_per_second in (10.0, 5.0):
        clock = FakeClock()
        eta = Eta(12_000, clock)
        eta.update(0)
        assert eta.seconds_left() is None  # nothing measured: no guess
        clock.now, done, history = 40.0, 0.0, []  # start-up: nothing done yet
        while done < 12_000:
            chunk = 300.0
            clock.now += chunk / (units_per_second * rng.uniform(0.8, 1.2))
            done = min(done + chunk, 12_000)
            eta.update(done)
            history.append((clock.now, done, eta.seconds_left()))
        end = clock.now
        quarter = next((t, left) for t, d, left in history if d >= 3_000)
        truth = end - quarter[0]
        assert quarter[1] is not None and abs(quarter[1] - truth) < 0.25 * truth, (quarter, truth)
        assert history[0][2] is None  # one report is not yet a speed
    assert Eta(100, FakeClock()).seconds_left() is None
