"""A learned latent initialiser (after the authors' follow-up work, SPEC.md section 8).

E maps a damaged face (x * M, the mask M and, for a conditioned model, the keypoint map)
to a z in [-1, 1] from which G already reproduces the face; the latent search then starts
there instead of at a random z. E is trained with G and D frozen (batch norm in inference
mode) on training faces with a mask drawn per sample from every mask type, minimising
    context L1 of G(E(x), k) on known pixels + lam * BCE(D(G, k), 1) + l2_weight * |G - x|^2,
the last term using the whole face, which training images have. Saved in
<checkpoint_dir>/encoder/ with encoder.json.
"""
import dataclasses
import json
import math
import os

import numpy as np
import tensorflow as tf

import masks as mask_lib
from ops import Adam, BatchNorm, Conv2D, Dense, lrelu
from utils import UserError, atomic_path

ENCODER_DIR = "encoder"
ENCODER_CONFIG = "encoder.json"


@dataclasses.dataclass
class EncoderConfig:
    output_size: int = 64
    z_dim: int = 100
    ef_dim: int = 64
    conditional: bool = True
    seed: int = 0


class Encoder(tf.Module):
    """Conv stack like D (5x5 stride 2 down to 4x4, leaky ReLU, BN from the second conv),
    then a dense layer to z and tanh."""

    def __init__(self, config, name="encoder"):
        super().__init__(name=name)
        self.config = config
        depth = int(math.log2(config.output_size)) - 2
        widths = [3 + 1 + (3 if config.conditional else 0)] + [config.ef_dim * 2 ** i for i in range(depth)]
        self.convs = [Conv2D(a, b, [config.seed, 300 + i]) for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]
        self.norms = [BatchNorm(w) for w in widths[2:]]
        self.dense = Dense(16 * widths[-1], config.z_dim, [config.seed, 400])

    def __call__(self, images, masks, keypoint_maps=None, training=False):
        """images [B, S, S, 3] in [-1, 1] (hole content ignored), masks [B, S, S, 1] -> z [B, z_dim]."""
        parts = [images * masks, masks]
        if self.config.conditional:
            parts.append(keypoint_maps)
        x = lrelu(self.convs[0](tf.concat(parts, axis=-1)))
        for conv, norm in zip(self.convs[1:], self.norms):
            x = lrelu(norm(conv(x), training))
        return tf.tanh(self.dense(tf.reshape(x, [tf.shape(x)[0], -1])))


def mask_bank(size, seed=0, per_type=8):
    """Masks of every type, randomised ones several times: [N, S, S, 1] for drawing per sample."""
    rng = np.random.default_rng(seed)
    bank = [mask_lib.make_mask(t, size) for t in mask_lib.MASK_TYPES if t not in ("full", "random")]
    for t in ("center", "checkboard", "freehand_poly"):
        bank.extend(mask_lib.temporal_masks(t, size, per_type, rng))
    bank.extend(mask_lib.make_mask("random", size, fraction_masked=f, rng=rng) for f in np.linspace(0.3, 0.9, per_type))
    return np.stack(bank)[..., None].astype(np.float32)


class EncoderTrainer(tf.Module):
    def __init__(self, gan, config, lam=0.1, l2_weight=1.0, learning_rate=1e-3, seed=0):
        super().__init__(name="encoder_trainer")
        self.gan, self.lam, self.l2_weight = gan, lam, l2_weight
        self.encoder = Encoder(config)
        self.optimizer = Adam(self.encoder.trainable_variables, learning_rate, 0.9)
        self.masks = tf.constant(mask_bank(config.output_size, seed))
        self.noise = tf.random.Generator.from_seed(seed)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.train_step = tf.function(self._train_step)

    def loss_terms(self, images, keypoint_maps, masks, training):
        z = self.encoder(images, masks, keypoint_maps, training)
        fake = self.gan.generator(z, keypoint_maps, training=False)
        context = tf.reduce_mean(tf.reduce_sum(tf.abs(masks * (fake - images)), axis=[1, 2, 3]))
        logits = self.gan.discriminator(fake, keypoint_maps, training=False)
        prior = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(logits), logits=logits))
        l2 = tf.reduce_mean(tf.reduce_sum(tf.square(fake - images), axis=[1, 2, 3]))
        return context + self.lam * prior + self.l2_weight * l2, context

    def _train_step(self, images, keypoint_maps):
        pick = self.noise.uniform_full_int([tf.shape(images)[0]], tf.int32)
        masks = tf.gather(self.masks, tf.math.floormod(pick, tf.shape(self.masks)[0]))
        with tf.GradientTape() as tape:
            loss, context = self.loss_terms(images, keypoint_maps, masks, True)
        self.optimizer.apply(tape.gradient(loss, self.encoder.trainable_variables))
        self.step.assign_add(1)
        return loss, context

    def checkpoint(self):
        return tf.train.Checkpoint(encoder=self.encoder, optimizer=self.optimizer, step=self.step, noise=self.noise)


def save_config(directory, config):
    with atomic_path(os.path.join(directory, ENCODER_CONFIG)) as tmp:
        with open(tmp, "w") as f:
            json.dump(dataclasses.asdict(config), f, indent=2)


def load_encoder(checkpoint_dir, gan_config):
    """The encoder trained for the GAN in checkpoint_dir; one clear line if there is none."""
    directory = os.path.join(checkpoint_dir, ENCODER_DIR)
    latest = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
    if latest is None or not os.path.exists(os.path.join(directory, ENCODER_CONFIG)):
        raise UserError(f"no trained encoder in {directory}: run `python train_encoder.py --checkpoint_dir "
                        f"{checkpoint_dir}` first, or use --z_init random")
    with open(os.path.join(directory, ENCODER_CONFIG)) as f:
        config = EncoderConfig(**json.load(f))
    if (config.output_size, config.z_dim, config.conditional) != (gan_config.output_size, gan_config.z_dim,
                                                                  gan_config.conditional):
        raise UserError(f"the encoder in {directory} was trained for another model: retrain it with train_encoder.py")
    encoder = Encoder(config)
    tf.train.Checkpoint(encoder=encoder).restore(latest).expect_partial()
    return encoder


def encoder_z_init(encoder):
    """A z_init(images, masks, keypoint_maps) -> z for complete.py and temporal.py."""
    def z_init(images, masks, keypoint_maps):
        m = np.asarray(masks, np.float32)
        m = m[..., None] if m.ndim == 3 else m
        return encoder(tf.constant(images, tf.float32), tf.constant(m), tf.constant(keypoint_maps, tf.float32)).numpy()
    return z_init
