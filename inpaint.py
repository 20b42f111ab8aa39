"""Inpainting by latent search (Yeh et al., CVPR 2017, conditioned as in Lahiri et al.).

For each image b, z_b minimises
    loss_b = sum over pixels |M * G(z_b, k_b) - M * x_b|  +  lam * BCE(D(G(z_b, k_b), k_b), 1)
(M = 1 known, 0 hole), with batch norm in inference mode so images do not interact. z
starts ~ U(-1, 1) and moves by Adam (clipped to [-1, 1] after each step) or by HMC
sampling. Whole runs of steps are one compiled TensorFlow loop; Python only sees the
results every outInterval steps.
"""
import os

import numpy as np
import tensorflow as tf

from model import CONFIG_NAME, KeypointGAN, ModelConfig
from ops import Adam
from utils import UserError, save_npy

PSNR_CAP_DB = 100.0  # identical images: MSE 0 would give inf; reported as 100 dB


def load_model(checkpoint_dir, output_size=None):
    """The GAN of a training run folder: config.json + the latest checkpoint. A different
    --output_size than the one trained is refused with one clear line."""
    config = ModelConfig.load(checkpoint_dir)
    if output_size and output_size != config.output_size:
        raise UserError(f"{checkpoint_dir} holds a {config.output_size}x{config.output_size} model but "
                        f"--output_size is {output_size}: pass --output_size {config.output_size} or "
                        "another --checkpoint_dir")
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest is None:
        raise UserError(f"no checkpoint in {checkpoint_dir}: train one with `python main.py "
                        f"--checkpoint_dir {checkpoint_dir}` or pass the right --checkpoint_dir")
    gan = KeypointGAN(config)
    try:
        status = tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator).restore(latest)
        status.expect_partial()  # the optimisers' slots are not needed to infer
        status.assert_existing_objects_matched()  # never run on random weights
    except (AssertionError, ValueError) as error:
        raise UserError(f"{latest} does not hold the {config.arch} model its {CONFIG_NAME} describes "
                        f"({str(error).splitlines()[0][:120]}): retrain, or pass the right --checkpoint_dir")
    return gan


def psnr(images, truths):
    """PSNR in dB per image, on the [0, 1] scale; inputs in [-1, 1]; capped at PSNR_CAP_DB."""
    a = (np.asarray(images, np.float64) + 1) / 2
    b = (np.asarray(truths, np.float64) + 1) / 2
    mse = np.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
    with np.errstate(divide="ignore"):
        return np.minimum(10 * np.log10(1.0 / mse), PSNR_CAP_DB)


class LatentSearch(tf.Module):
    """Searches one z per image for a fixed batch size."""

    def __init__(self, gan, batch_size, lam=0.1, approach="adam", lr=0.01, beta1=0.9, beta2=0.999,
                 eps=1e-5, hmc_beta=0.2, hmc_eps=0.001, hmc_L=100, hmc_anneal=1.0, seed=0,
                 tiled_z_shortcut=True):
        super().__init__(name="latent_search")
        if approach not in ("adam", "hmc"):
            raise UserError(f"unknown --approach {approach}: use adam or hmc")
        self.gan, self.lam, self.approach = gan, lam, approach
        self.tiled_z_shortcut = tiled_z_shortcut
        self.z = tf.Variable(tf.zeros([batch_size, gan.config.z_dim]), name="z")
        self.optimizer = Adam([self.z], lr, beta1, beta2, eps)
        self.hmc_beta = tf.Variable(float(hmc_beta), trainable=False)
        self.hmc_eps, self.hmc_L, self.hmc_anneal = hmc_eps, hmc_L, hmc_anneal
        self.noise = tf.random.Generator.from_seed(seed)
        self.accepted = tf.Variable(tf.zeros([batch_size]), trainable=False)
        self._steps = tf.function(self._run_steps)

    def start(self, z=None):
        """A new batch: z ~ U(-1, 1) (or the given z), fresh optimiser state."""
        if z is None:
            z = self.noise.uniform(self.z.shape, -1.0, 1.0)
        self.z.assign(z)
        self.optimizer.reset()
        self.accepted.assign(tf.zeros_like(self.accepted))

    def generate(self, keypoint_maps):
        return self.gan.generator(self.z, keypoint_maps, training=False, tiled_z_shortcut=self.tiled_z_shortcut)

    def _loss_terms(self, z, images, keypoint_maps, masks):
        """(total, context, prior) per image, and G(z)."""
        fake = self.gan.generator(z, keypoint_maps, training=False, tiled_z_shortcut=self.tiled_z_shortcut)
        context = tf.reduce_sum(tf.abs(masks * (fake - images)), axis=[1, 2, 3])
        logits = self.gan.discriminator(fake, keypoint_maps, training=False)
        prior = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(logits), logits=logits)
        return context + self.lam * prior, context, prior, fake

    def _loss_and_grad(self, z, images, keypoint_maps, masks):
        with tf.GradientTape() as tape:
            tape.watch(z)
            total = self._loss_terms(z, images, keypoint_maps, masks)[0]
            summed = tf.reduce_sum(total)  # images are independent: d(sum)/dz_b = d loss_b / dz_b
        return total, tape.gradient(summed, z)

    def _adam_step(self, images, keypoint_maps, masks):
        _, grad = self._loss_and_grad(self.z, images, keypoint_maps, masks)
        self.optimizer.apply([grad])
        self.z.assign(tf.clip_by_value(self.z, -1.0, 1.0))

    def _hmc_step(self, images, keypoint_maps, masks):
        """One HMC proposal per image: L leapfrog steps on beta * loss with unit-mass momentum,
        then a per-image Metropolis accept. (The original summed the batch's losses and
        indexed that scalar per image, so it crashed.)"""
        z_old = tf.identity(self.z)
        loss_old, grad = self._loss_and_grad(z_old, images, keypoint_maps, masks)
        v = self.noise.normal(z_old.shape)
        v_old = v
        z = z_old
        beta, eps = self.hmc_beta, self.hmc_eps
        loss = loss_old
        for _ in tf.range(self.hmc_L):
            v = v - eps / 2 * beta * grad
            z = tf.clip_by_value(z + eps * v, -1.0, 1.0)
            loss, grad = self._loss_and_grad(z, images, keypoint_maps, masks)
            v = v - eps / 2 * beta * grad
        energy_old = beta * loss_old + tf.reduce_sum(v_old ** 2, axis=1) / 2
        energy_new = beta * loss + tf.reduce_sum(v ** 2, axis=1) / 2
        accept = tf.math.log(self.noise.uniform(loss.shape)) < energy_old - energy_new
        self.z.assign(tf.where(accept[:, None], z, z_old))
        self.accepted.assign_add(tf.cast(accept, tf.float32))
        self.hmc_beta.assign(self.hmc_beta * self.hmc_anneal)

    def _run_steps(self, images, keypoint_maps, masks, steps):
        step = self._adam_step if self.approach == "adam" else self._hmc_step
        for _ in tf.range(steps):
            step(images, keypoint_maps, masks)
        return self._loss_terms(self.z, images, keypoint_maps, masks)

    def run(self, images, keypoint_maps, masks, steps):
        """Advance `steps` steps in one compiled call. images, maps [B, S, S, 3] in [-1, 1];
        masks [B, S, S, 1]. Returns numpy (total, context, prior) per image and G(z)."""
        out = self._steps(tf.constant(images, tf.float32), tf.constant(keypoint_maps, tf.float32),
                          tf.constant(masks, tf.float32), tf.constant(steps, tf.int32))
        return tuple(o.numpy() for o in out)


def pad_batch(array, batch_size):
    """Pad a partial last batch by repeating its last item; returns (padded, real count)."""
    n = len(array)
    if n == batch_size:
        return array, n
    return np.concatenate([array, np.repeat(array[-1:], batch_size - n, axis=0)]), n


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
