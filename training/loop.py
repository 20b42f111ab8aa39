"""Training runs: one resumable, interruptible loop, and the GAN's run built on it.

TrainLoop is shared by main.py (the GAN) and train_encoder.py (the learned initialiser).
It restores the latest checkpoint of its folder (every object must match), trains from the
saved step to the last one on batches that continue mid-epoch where the run stopped,
saves every saveInterval steps and at the end, on Ctrl-C, and when a loss turns
non-finite: the train steps leave no trace of a non-finite step (see
model.KeypointGAN._train_step), so what is saved then is the last finite state. Under a
multi-worker strategy only the chief writes the run's folder and prints (core/distribute.py).
"""
import math
import os
import time

import numpy as np

from core import distribute
from core.configs import CONFIG_NAME, ModelConfig
from core.tfstart import tf
from facedata import dataset
from model import RECALIBRATION_FACES, KeypointGAN
from utils import UserError, image_grid, save_image


class TrainLoop:
    """Checkpoints of one training state (a tf.train.Checkpoint with its step counter)."""

    def __init__(self, checkpoint, directory, step, max_to_keep=3, strategy=None, before_save=None):
        strategy = strategy or tf.distribute.get_strategy()
        self.checkpoint, self.step, self.directory, self.before_save = checkpoint, step, directory, before_save
        self.chief = distribute.is_chief(strategy)
        self.scratch = None if self.chief else distribute.scratch_dir(directory, strategy)
        self.manager = tf.train.CheckpointManager(checkpoint, self.scratch or directory, max_to_keep=max_to_keep)
        self.saved_step = None  # the same on every worker, so all of them save, or none
        self.say = print if self.chief else (lambda *args, **kwargs: None)

    @property
    def latest(self):
        return tf.train.latest_checkpoint(self.directory)

    def restore(self):
        """Resume from the latest checkpoint, if any; every object must be found in it."""
        latest = self.latest
        if latest is None:
            return False
        status = None
        try:
            status = self.checkpoint.restore(latest)
            status.assert_existing_objects_matched()
        except (AssertionError, ValueError):
            if status is not None:
                status.expect_partial()  # no second report of the same mismatch when it is collected
            raise UserError(f"cannot resume from {latest}: it does not hold this run's whole training state (another "
                            "model, or a checkpoint from before optimiser moments were keyed by weight name, whose "
                            "G and D still load for complete.py and temporal.py); train in another "
                            "--checkpoint_dir") from None
        self.saved_step = int(self.step.numpy())
        return True

    def save(self):
        """Save the current state, unless it was restored or saved at this step; returns the
        run's latest checkpoint (the chief's)."""
        number = int(self.step.numpy())
        if number != self.saved_step:
            if self.before_save is not None:
                self.before_save()
            self.manager.save(checkpoint_number=number)
            self.saved_step = number
            if self.scratch:
                distribute.remove_scratch(self.scratch)
        return os.path.join(self.directory, f"ckpt-{number}")

    def run(self, train_steps, segments, total_steps, *, save_interval, print_every, describe, every=(),
            on_steps=None, on_boundary=None):
        """Trains until total_steps. train_steps(iterator, count) -> ({name: [n]}, finite
        steps) runs up to `count` steps in one compiled call (distribute.run_steps), stopping
        after a non-finite one; segments yields (iterator, steps) pairs, an epoch's batches
        and how many of them to train on. Calls stop at every multiple of print_every,
        save_interval and the intervals in `every`, and are sized to take about
        CALL_SECONDS. describe(step, losses) -> the text of a progress line; on_steps(first,
        values) gets the values of steps first + 1 ... (for TensorBoard); on_boundary(step)
        runs after each call (samples). Returns the steps trained."""
        step = first = int(self.step.numpy())
        started = window = time.perf_counter()
        window_step, chunk = step, 1
        intervals = [n for n in (print_every, save_interval, *every) if n > 0]
        try:
            for iterator, count in segments:
                end = step + count
                while step < end:
                    stop = min([end] + [(step // n + 1) * n for n in intervals])
                    asked, called = min(chunk, stop - step), time.perf_counter()
                    values, finite = train_steps(iterator, tf.constant(min(chunk, stop - step)))
                    values, finite = {k: v.numpy() for k, v in values.items()}, int(finite)
                    seconds = max(time.perf_counter() - called, 1e-6)
                    chunk = max(1, min(MAX_STEPS_PER_CALL, int(CALL_SECONDS * max(finite, 1) / seconds)))
                    if on_steps is not None and finite:
                        on_steps(step, {k: v[:finite] for k, v in values.items()})
                    step += finite
                    if finite < asked:
                        path = self.save()
                        bad = [k for k, v in values.items() if not math.isfinite(v[finite])]
                        what = f"{bad[0]} became {values[bad[0]][finite]}" if bad else "a gradient became non-finite"
                        raise UserError(f"{what} at step {step + 1}: stopped before applying it; saved {path}, "
                                        "the last finite state. Try a lower --learning_rate, then run the same "
                                        "command to resume")
                    if step % print_every == 0 or step == total_steps:
                        now = time.perf_counter()
                        per_step = (now - window) / max(step - window_step, 1)
                        window, window_step = now, step
                        last = {k: float(v[finite - 1]) for k, v in values.items()}
                        self.say(f"step {step}/{total_steps} {describe(step, last)}  {per_step:.3f} s/step, "
                                 f"{per_step * (total_steps - step) / 60:.1f} min left", flush=True)
                    if on_boundary is not None:
                        on_boundary(step)
                    if step % save_interval == 0 or step == total_steps:
                        self.save()
        except KeyboardInterrupt:
            path = self.save()
            raise UserError(f"interrupted at step {int(self.step.numpy())}; saved {path}. Run the same command again "
                            "to resume") from None
        self.say(f"done: {step - first} steps in {time.perf_counter() - started:.0f} s; checkpoint {self.latest}")
        return step - first


CALL_SECONDS = 1.0  # steps per compiled call: about this long, so Ctrl-C and progress lines stay prompt
MAX_STEPS_PER_CALL = 500


class GANTrainer:
    """The training run of main.py: model, data, checkpoints and outputs of one run folder,
    on one device or on the replicas of `strategy` (distribute.make_strategy)."""

    def __init__(self, model_config, config, strategy=None):
        self.config, self.train_config = model_config, config
        c = config
        self.strategy = strategy = strategy or tf.distribute.get_strategy()
        distribute.check_batch(c.batch_size, strategy)
        if c.xla and strategy.num_replicas_in_sync > 1:
            raise UserError("--xla compiles one device's step; it does not compile a step over replicas "
                            "(tf.distribute's cross-replica calls): drop --xla or --distribute")
        tf.random.set_seed(c.seed)
        if os.path.exists(os.path.join(c.checkpoint_dir, CONFIG_NAME)):
            model_config.check_same_architecture(ModelConfig.load(c.checkpoint_dir), c.checkpoint_dir)
        size = model_config.output_size
        dataset.check_record_size(c.train_records, size)
        self.num_faces = dataset.count_records(c.train_records)
        self.steps_per_epoch = self.num_faces // c.batch_size
        if self.steps_per_epoch == 0:
            raise UserError(f"{c.train_records} holds {self.num_faces} faces, fewer than --batch_size "
                            f"{c.batch_size}: preprocess more images or lower --batch_size")
        self.total_steps = c.epoch * self.steps_per_epoch
        if c.max_steps:
            self.total_steps = min(self.total_steps, c.max_steps)

        with strategy.scope():
            self.gan = KeypointGAN(model_config, c.learning_rate, c.beta1, jit_compile=c.xla, noise_seed=c.seed,
                                   strategy=strategy, ema_decay=c.ema_decay)
        self.averaged = self.gan.generator_average is not None
        self.recalibrated_at = None
        self.loop = TrainLoop(self.gan.checkpoint(), c.checkpoint_dir, self.gan.step, strategy=strategy,
                              before_save=self.recalibrate if self.averaged else None)
        self.chief, self.say = self.loop.chief, self.loop.say
        if self.loop.restore():
            self.say(f"resumed from {self.loop.latest} at step {int(self.gan.step.numpy())}")
            self.recalibrated_at = int(self.gan.step.numpy())  # saved recalibrated
        if self.chief:
            model_config.save(c.checkpoint_dir)

        # Fixed inputs for the sample grids, so grids are comparable over the run, and the
        # maps with which the averaged G's batch-norm statistics are measured.
        count = min(64, self.num_faces)
        _, self.sample_maps = dataset.first_examples(c.train_records, size, count)
        if self.averaged:
            _, self.recalibration_maps = dataset.first_examples(c.train_records, size, min(
                self.num_faces, RECALIBRATION_FACES), to_float=False)
        self.sample_z = tf.constant(np.random.default_rng(c.seed).uniform(-1, 1, (count, model_config.z_dim)),
                                    tf.float32)
        self.sampler = tf.function(lambda generator, z, k: generator(z, k, training=False))
        self.samples_dir = os.path.join(c.sample_dir, c.dataset)
        self.writer = tf.summary.create_file_writer(c.log_dir) if self.chief else tf.summary.create_noop_writer()

    def recalibrate(self):
        """The averaged G's batch-norm statistics, measured for its current weights (once per step)."""
        step = int(self.gan.step.numpy())
        if self.recalibrated_at != step:
            self.gan.recalibrate(self.recalibration_maps)
            self.recalibrated_at = step

    def save_samples(self, step):
        """sample_{step}.png from G (as the original), sample_average_{step}.png from its
        average, sampleky_{step}.png the maps; the first 8 of each to TensorBoard."""
        generators = [("sample", self.gan.generator)]
        if self.averaged:
            self.recalibrate()
            generators.append(("sample_average", self.gan.generator_average))
        rows = int(math.sqrt(len(self.sample_maps)))
        for name, generator in generators:
            images = self.sampler(generator, self.sample_z, self.sample_maps).numpy()
            save_image(os.path.join(self.samples_dir, f"{name}_{step}.png"), image_grid(images, rows))
            with self.writer.as_default():
                tf.summary.image(name + "s", (images[:8] + 1) / 2, step=step, max_outputs=8)
        if self.config.conditional:
            save_image(os.path.join(self.samples_dir, f"sampleky_{step}.png"),
                       image_grid(self.sample_maps.numpy(), rows))

    def write_scalars(self, first, values):
        """TensorBoard scalars of steps first + 1, first + 2, ... from a call's loss arrays."""
        with self.writer.as_default():
            for i in range(len(next(iter(values.values())))):
                for name, series in values.items():
                    tf.summary.scalar(name, series[i], step=first + i + 1)

    def after_call(self, step):
        if self.chief and (step % self.train_config.sampleInterval == 0 or step == self.total_steps):
            self.save_samples(step)

    def describe(self, step, losses):
        return (f"epoch {step // self.steps_per_epoch} d_loss {losses['d_loss']:.3f} (real "
                f"{losses['d_loss_real']:.3f}, fake {losses['d_loss_fake']:.3f}) g_loss {losses['g_loss']:.3f}")

    def run(self):
        c, m = self.train_config, self.config
        step = int(self.gan.step.numpy())
        if step >= self.total_steps:
            self.say(f"already trained {step} of {self.total_steps} steps; raise --epoch or --max_steps to go on")
            return self
        replicas = self.strategy.num_replicas_in_sync
        self.say(f"training {'conditioned' if m.conditional else 'unconditioned'} {m.arch} {m.output_size}x"
                 f"{m.output_size} on {self.num_faces} faces: steps {step} -> {self.total_steps} "
                 f"({self.steps_per_epoch} per epoch), batch {c.batch_size}"
                 + (f" over {replicas} replicas" if replicas > 1 else ""))
        segments = dataset.epoch_iterators(c.train_records, m.output_size, c.batch_size, c.seed, step,
                                           self.total_steps, self.steps_per_epoch, distribute.inputs(self.strategy))
        try:
            self.loop.run(self.gan.train_steps, segments, self.total_steps, save_interval=c.saveInterval,
                          print_every=c.print_every, describe=self.describe, every=(c.sampleInterval,),
                          on_steps=self.write_scalars, on_boundary=self.after_call)
        finally:
            self.writer.flush()
        self.say(f"samples in {self.samples_dir}")
        return self
