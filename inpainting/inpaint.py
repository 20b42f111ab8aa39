"""Inpainting by latent search (Yeh et al., CVPR 2017, conditioned as in Lahiri et al.).

For each image b, z_b minimises
    loss_b = sum over pixels |M * G(z_b, k_b) - M * x_b|  +  lam * BCE(D(G(z_b, k_b), k_b), 1)
(M = 1 known, 0 hole), with batch norm in inference mode so images do not interact. z
starts ~ U(-1, 1) (or at a learned guess) and moves by Adam (clipped to [-1, 1] after each
step) or by HMC sampling (reflected at the bounds). Whole runs of steps are one compiled
TensorFlow loop; Python only sees the results at the milestones (every outInterval steps).

This module is the library behind complete.py, temporal.py and experiments.py: the search
itself (configured by configs.SearchConfig) and its orchestration over many images
(batches, padding, milestones, z start), called with keyword arguments.
"""
import dataclasses
import os

import numpy as np
from tqdm import tqdm

from core.configs import CONFIG_NAME, GENERATOR_WEIGHTS, ModelConfig, SearchConfig
from core.tfstart import tf
from model import GANNetworks, bce
from ops import Adam
from utils import UserError, save_npy


def load_model(checkpoint_dir, output_size=None, precision=None, generator="average"):
    """The generator and discriminator of a training run folder (config.json + the latest
    checkpoint), without the optimisers, computing in `precision` (default: as trained).
    generator "average": the averaged copy of G's weights where the run kept one (main.py
    --ema_decay), else G's own; "raw": G's own weights (the paper's setting). The returned
    networks' `generator_weights` says which was loaded, and `source` names the checkpoint
    and the weights ("ckpt-3:average"). A different output_size than the
    one trained, a missing checkpoint, or a checkpoint that lacks any of G's or D's weights
    is refused with one clear line: inference never runs on random weights."""
    config = ModelConfig.load(checkpoint_dir)
    if precision:
        config = dataclasses.replace(config, precision=precision)
    if generator not in GENERATOR_WEIGHTS:
        raise UserError(f"unknown --generator {generator}: use {' or '.join(GENERATOR_WEIGHTS)}")
    if output_size and output_size != config.output_size:
        raise UserError(f"{checkpoint_dir} holds a {config.output_size}x{config.output_size} model but "
                        f"--output_size is {output_size}: pass --output_size {config.output_size} or "
                        "another --checkpoint_dir")
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest is None:
        raise UserError(f"no checkpoint in {checkpoint_dir}: train one with `python main.py "
                        f"--checkpoint_dir {checkpoint_dir}` or pass the right --checkpoint_dir")
    gan = GANNetworks(config)
    averaged = any(name.startswith(AVERAGE_KEY + "/") for name, _ in tf.train.list_variables(latest))
    gan.generator_weights = "average" if generator == "average" and averaged else "raw"
    gan.source = f"{os.path.basename(latest)}:{gan.generator_weights}"  # which weights, for the encoder's record
    key = AVERAGE_KEY if gan.generator_weights == "average" else "generator"
    try:
        status = tf.train.Checkpoint(**{key: gan.generator, "discriminator": gan.discriminator}).restore(latest)
        status.expect_partial()  # the training state (optimisers, step) is not needed to infer
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        raise UserError(f"{latest} does not hold the {config.arch} model its {CONFIG_NAME} describes "
                        f"({str(error).splitlines()[0][:120]}): retrain, or pass the right --checkpoint_dir")
    return gan


AVERAGE_KEY = "generator_average"  # the averaged G's name in a training checkpoint (model.KeypointGAN)


def trained_steps(checkpoint_dir):
    """The training step a run folder's latest checkpoint was saved at (its `step`), or None."""
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest is None or "step/.ATTRIBUTES/VARIABLE_VALUE" not in dict(tf.train.list_variables(latest)):
        return None
    return int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE"))


def export_model(checkpoint_dir, out_dir, generator="average"):
    """Write what inference needs of a training run into out_dir: its config.json and one
    checkpoint holding G's averaged (or raw) weights and D's, without the optimisers, a
    third of the training checkpoint's size. The result loads with load_model like any run
    folder (as averaged weights when averaged ones were taken) and keeps the step it was
    trained to. Returns the step."""
    gan = load_model(checkpoint_dir, generator=generator)
    steps = trained_steps(checkpoint_dir)
    os.makedirs(out_dir, exist_ok=True)
    gan.config.save(out_dir)
    key = AVERAGE_KEY if gan.generator_weights == "average" else "generator"
    step = tf.Variable(steps or 0, dtype=tf.int64, name="step")
    checkpoint = tf.train.Checkpoint(**{key: gan.generator, "discriminator": gan.discriminator, "step": step})
    tf.train.CheckpointManager(checkpoint, out_dir, max_to_keep=1).save(checkpoint_number=steps)
    return steps


def inpainting_loss(gan, z, images, keypoint_maps, masks, lam, tiled_z_shortcut=True):
    """The paper's loss per image: context L1 on known pixels + lam * prior, the prior being
    D's cross-entropy against 'real'. Returns (total, context, prior, G(z)); G and D in
    inference mode. Shared by the latent search and the encoder's training."""
    fake = gan.generator(z, keypoint_maps, training=False, tiled_z_shortcut=tiled_z_shortcut)
    context = tf.reduce_sum(tf.abs(masks * (fake - images)), axis=[1, 2, 3])
    prior = bce(gan.discriminator(fake, keypoint_maps, training=False), 1.0)
    return context + lam * prior, context, prior, fake


def reflect(z, v, low=-1.0, high=1.0):
    """Fold z back into [low, high] as a ball bouncing off both walls, flipping v at each
    bounce. The leapfrog map with this reflection stays reversible and volume-preserving,
    so the Metropolis test still targets exp(-beta * loss) on the box; clipping does not."""
    width = high - low
    bounces = tf.floor((z - low) / width)
    inside = (z - low) - bounces * width
    odd = tf.math.floormod(bounces, 2.0) > 0
    return tf.where(odd, high - inside, low + inside), tf.where(odd, -v, v)


def hmc_proposal(z, loss_and_grad, beta, eps, steps, noise):
    """One HMC proposal per row of z: `steps` leapfrog steps on beta * loss with unit-mass
    momentum, reflected at [-1, 1], then a Metropolis accept per row. loss_and_grad(z) ->
    (loss per row, d sum(loss) / dz). Returns (new z, accepted per row). (The original
    summed the batch's losses and indexed that scalar per image, so it crashed.)"""
    loss_old, grad = loss_and_grad(z)
    v_old = noise.normal(tf.shape(z))
    v, moved, loss = v_old, z, loss_old
    for _ in tf.range(steps):
        v = v - eps / 2 * beta * grad
        moved, v = reflect(moved + eps * v, v)
        loss, grad = loss_and_grad(moved)
        v = v - eps / 2 * beta * grad
    energy_old = beta * loss_old + tf.reduce_sum(v_old ** 2, axis=1) / 2
    energy_new = beta * loss + tf.reduce_sum(v ** 2, axis=1) / 2
    accept = tf.math.log(noise.uniform(tf.shape(loss))) < energy_old - energy_new
    return tf.where(accept[:, None], moved, z), accept


class LatentSearch(tf.Module):
    """Searches one z per image for a batch of config.batch_size images."""

    def __init__(self, gan, config=None):
        super().__init__(name="latent_search")
        self.gan, self.config = gan, config or SearchConfig()
        c = self.config
        self.z = tf.Variable(tf.zeros([c.batch_size, gan.config.z_dim]), name="z")
        self.optimizer = Adam({"z": self.z}, c.lr, c.beta1, c.beta2, c.eps)
        self.hmc_beta = tf.Variable(float(c.hmcBeta), trainable=False)
        self.noise = tf.random.Generator.from_seed(c.seed)
        self.accepted = tf.Variable(tf.zeros([c.batch_size]), trainable=False)
        # A pull towards an anchor z, weight * |z - anchor|^2 per image: 0 but for sequences,
        # where the anchor is the previous frame's z (sequence.py's `smooth`).
        self.anchor = tf.Variable(tf.zeros_like(self.z), trainable=False, name="anchor")
        self.anchor_weight = tf.Variable(0.0, trainable=False, name="anchor_weight")
        self._steps = tf.function(self._run_steps)

    def start(self, z=None, anchor=None, anchor_weight=0.0, first=0):
        """A new batch: z as given, or random starts for the images numbered first,
        first + 1, ... (random_starts: a function of the seed and the number alone, so an
        image starts from the same z whatever was searched before it, in this process or
        in another shard); fresh optimiser state; with an anchor, anchor_weight *
        |z - anchor|^2 joins each image's loss. HMC's noise is drawn afresh from (seed, first)."""
        if z is None:
            z = random_starts(self.config.seed, first, self.z.shape[0], self.z.shape[1])
        self.z.assign(z)
        self.noise.reset_from_seed(self.config.seed * 1_000_003 + first)
        self.anchor.assign(tf.zeros_like(self.z) if anchor is None else anchor)
        self.anchor_weight.assign(0.0 if anchor is None else float(anchor_weight))
        self.optimizer.reset()
        self.accepted.assign(tf.zeros_like(self.accepted))
        self.hmc_beta.assign(float(self.config.hmcBeta))

    def _loss_and_grad(self, z, images, keypoint_maps, masks):
        with tf.GradientTape() as tape:
            tape.watch(z)
            total = inpainting_loss(self.gan, z, images, keypoint_maps, masks, self.config.lam,
                                    self.config.tiled_z_shortcut)[0]
            total += self.anchor_weight * tf.reduce_sum(tf.square(z - self.anchor), axis=1)
            summed = tf.reduce_sum(total)  # images are independent: d(sum)/dz_b = d loss_b / dz_b
        return total, tape.gradient(summed, z)

    def _adam_step(self, images, keypoint_maps, masks):
        _, grad = self._loss_and_grad(self.z, images, keypoint_maps, masks)
        self.optimizer.apply({"z": self.z}, [grad])
        self.z.assign(tf.clip_by_value(self.z, -1.0, 1.0))

    def _hmc_step(self, images, keypoint_maps, masks):
        z, accept = hmc_proposal(tf.identity(self.z),
                                 lambda z: self._loss_and_grad(z, images, keypoint_maps, masks),
                                 self.hmc_beta, self.config.hmcEps, self.config.hmcL, self.noise)
        self.z.assign(z)
        self.accepted.assign_add(tf.cast(accept, tf.float32))
        self.hmc_beta.assign(self.hmc_beta * self.config.hmcAnneal)

    def _run_steps(self, images, keypoint_maps, masks, steps):
        step = self._adam_step if self.config.approach == "adam" else self._hmc_step
        for _ in tf.range(steps):
            step(images, keypoint_maps, masks)
        return inpainting_loss(self.gan, self.z, images, keypoint_maps, masks, self.config.lam,
                               self.config.tiled_z_shortcut)

    def run(self, images, keypoint_maps, masks, steps):
        """Advance `steps` steps in one compiled call. images, maps [B, S, S, 3] in [-1, 1];
        masks [B, S, S, 1]. Returns numpy (total, context, prior) per image and G(z)."""
        out = self._steps(tf.constant(images, tf.float32), tf.constant(keypoint_maps, tf.float32),
                          tf.constant(masks, tf.float32), tf.constant(steps, tf.int32))
        return tuple(o.numpy() for o in out)


def random_starts(seed, first, count, z_dim):
    """z ~ U(-1, 1) for the images numbered first .. first + count - 1: image i's from
    (seed, i) alone. [count, z_dim] float32."""
    return np.stack([np.random.default_rng([seed, first + i]).uniform(-1, 1, z_dim)
                     for i in range(count)]).astype(np.float32)


def pad_batch(array, batch_size):
    """Pad a partial last batch by repeating its last item; returns (padded, real count)."""
    n = len(array)
    if n == batch_size:
        return array, n
    return np.concatenate([array, np.repeat(array[-1:], batch_size - n, axis=0)]), n


def search_batch(search, images, keypoint_maps, masks, *, z=None, first=0, milestones=None, on_milestone=None,
                 bar=None):
    """The latent search on up to batch_size images (padded to it), numbered first, first +
    1, ... for their random starts. masks [B, S, S]; z: the start (None: random).
    on_milestone(steps, generated) is called at each milestone (default: the config's).
    Returns G(z) of the real images and their final losses."""
    size = search.config.batch_size
    images_p, n = pad_batch(images, size)
    maps_p, _ = pad_batch(keypoint_maps, size)
    masks_p, _ = pad_batch(np.asarray(masks, np.float32)[..., None], size)
    search.start(None if z is None else pad_batch(z, size)[0], first=first)
    done = 0
    for milestone in milestones if milestones is not None else search.config.milestones():
        total, context, prior, generated = search.run(images_p, maps_p, masks_p, milestone - done)
        if bar is not None:
            bar.set_postfix(loss=f"{total[:n].mean():.1f}", context=f"{context[:n].mean():.1f}", refresh=False)
            bar.update(milestone - done)
        done = milestone
        if on_milestone is not None:
            on_milestone(done, generated[:n])
    return generated[:n], {"loss": total[:n], "context": context[:n], "prior": prior[:n]}


def search_all(search, images, keypoint_maps, masks, *, z_init=None, on_batch=None, milestones=None,
               on_milestone=None, first_number=0):
    """Inpaint every image: batches of the search's batch_size, each started at
    z_init(images, masks, maps) (None: random starts, image i's drawn from the search's seed
    and first_number + i). on_batch(b, first, generated) is called after batch b (images
    first..first + len(generated)); on_milestone(b, steps, generated) at each milestone.
    Returns G(z) of every image, [N, S, S, 3]."""
    size = search.config.batch_size
    milestones = milestones if milestones is not None else search.config.milestones()
    out = []
    with tqdm(total=-(-len(images) // size) * milestones[-1], desc="z-search", unit="step",
              dynamic_ncols=True, disable=None) as bar:
        for b, first in enumerate(range(0, len(images), size)):
            x, k, m = (a[first:first + size] for a in (images, keypoint_maps, masks))
            hook = None if on_milestone is None else (lambda steps, g, b=b: on_milestone(b, steps, g))
            generated, _ = search_batch(search, x, k, m, z=None if z_init is None else z_init(x, m, k),
                                        first=first_number + first, milestones=milestones, on_milestone=hook, bar=bar)
            if on_batch is not None:
                on_batch(b, first, generated)
            out.append(generated)
    return np.concatenate(out)


def composite(images, generated, masks):
    """Known pixels from the image, hole pixels from G: M * x + (1 - M) * G(z)."""
    m = masks[..., None] if masks.ndim == 3 else masks
    return m * images + (1 - m) * generated


def write_summary_arrays(out_dir, name, values):
    """values per image -> name.npy; returns {mean, std, count} for the JSON summary."""
    values = np.asarray(values, np.float64)
    save_npy(os.path.join(out_dir, f"{name}.npy"), values)
    return {"mean": float(values.mean()) if len(values) else None,
            "std": float(values.std()) if len(values) else None, "count": int(len(values))}
