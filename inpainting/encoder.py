"""A learned latent initialiser (after the authors' follow-up work, docs/spec.md section 8).

E maps a damaged face (x * M, the mask M and, for a conditioned model, the keypoint map)
to a z in [-1, 1] from which G already reproduces the face; the latent search then starts
there instead of at a random z. E is trained with G and D frozen (batch norm in inference
mode) on training faces with a mask drawn per sample from every mask type, minimising
    the search's inpainting loss (context L1 + lam * prior) + l2_weight * |G - x|^2,
the last term using the whole face, which training images have. Saved in
<checkpoint_dir>/encoder/ with encoder.json; trained by train_encoder() with the same
resumable loop as the GAN.
"""
import os

import numpy as np

from core import distribute
from core.configs import EncoderConfig, load_config, save_config
from core.tfstart import tf
from inpainting import masks as mask_lib
from inpainting.inpaint import inpainting_loss
from model import uint8_to_model_range
from ops import (COMPUTE_DTYPES, Adam, ConvStack, Dense, assign, global_mean_share, keep_if_finite, named_variables,
                 replica_rows, replica_sum, replicas, snapshot)
from utils import UserError

ENCODER_DIR = "encoder"
ENCODER_CONFIG = "encoder.json"


class Encoder(ConvStack):
    """The discriminator's conv stack over [x * M, M, map], then a dense layer to z and tanh."""

    def __init__(self, config, name="encoder"):
        dtype = COMPUTE_DTYPES[config.precision]
        super().__init__(3 + 1 + (3 if config.conditional else 0), config.ef_dim, config.output_size, config.seed,
                         first_layer=300, compute_dtype=dtype, name=name)
        self.config = config
        self.dense = Dense(self.features, config.z_dim, [config.seed, 400], compute_dtype=dtype)

    def __call__(self, images, masks, keypoint_maps=None, training=False):
        """images [B, S, S, 3] in [-1, 1] (hole content ignored), masks [B, S, S, 1] -> z [B, z_dim]."""
        parts = [images * masks, masks] + ([keypoint_maps] if self.config.conditional else [])
        return tf.cast(tf.tanh(self.dense(self.body(tf.concat(parts, axis=-1), training))), tf.float32)


def mask_bank(size, seed=0, per_type=8):
    """Masks of every type, randomised ones several times: [N, S, S, 1] for drawing per sample."""
    rng = np.random.default_rng(seed)
    bank = [mask_lib.make_mask(t, size) for t in mask_lib.MASK_TYPES if t not in ("full",) + mask_lib.RANDOM_MASKS]
    for t in ("center", "checkboard", "freehand_poly"):
        bank.extend(mask_lib.temporal_masks(t, size, per_type, rng))
    bank.extend(mask_lib.make_mask("random", size, fraction_masked=f, rng=rng) for f in np.linspace(0.3, 0.9, per_type))
    return np.stack(bank)[..., None].astype(np.float32)


class EncoderTrainer(tf.Module):
    """The encoder's training state and step; built inside strategy.scope() (with the frozen
    GAN) to train on the strategy's replicas, like model.KeypointGAN."""

    def __init__(self, gan, config, lam=0.1, l2_weight=1.0, learning_rate=1e-3, seed=0, strategy=None):
        super().__init__(name="encoder_trainer")
        self.gan, self.lam, self.l2_weight, self.seed = gan, lam, l2_weight, seed
        self.strategy = strategy or tf.distribute.get_strategy()
        self.encoder = Encoder(config)
        self.optimizer = Adam(named_variables(self.encoder), learning_rate, 0.9)
        self.masks = tf.constant(mask_bank(config.output_size, seed))
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.train_step = tf.function(
            lambda images, maps: distribute.run_step(self.strategy, self._train_step, images, maps)[0])
        self.train_steps = tf.function(
            lambda iterator, count: distribute.run_steps(self.strategy, self._train_step, ("loss", "context"),
                                                         iterator, count))

    def loss_terms(self, images, keypoint_maps, masks, training):
        """(this replica's share of the global batch's mean loss, of its mean context loss)."""
        z = self.encoder(images, masks, keypoint_maps, training)
        total, context, _, fake = inpainting_loss(self.gan, z, images, keypoint_maps, masks, self.lam)
        l2 = tf.reduce_sum(tf.square(fake - images), axis=[1, 2, 3])
        return global_mean_share(total + self.l2_weight * l2), global_mean_share(context)

    def pick_masks(self, batch_size):
        """This replica's rows of the step's masks, one drawn from the bank per face of the
        global batch, as a function of (seed, step) like the GAN's z."""
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.step])
        pick = tf.random.stateless_uniform([batch_size * replicas()[1]], seed, 0, tf.shape(self.masks)[0], tf.int32)
        return replica_rows(tf.gather(self.masks, pick))

    def _train_step(self, images, keypoint_maps):
        """One step on uint8 faces, a mask drawn per face: (losses, finite); a non-finite step
        changes nothing."""
        images, keypoint_maps = uint8_to_model_range(images, keypoint_maps)
        state = list(self.encoder.variables) + list(self.optimizer.variables)
        saved = snapshot(state)
        masks = self.pick_masks(tf.shape(images)[0])
        with tf.GradientTape() as tape:
            loss, context = self.loss_terms(images, keypoint_maps, masks, True)
        variables = named_variables(self.encoder)
        grads = replica_sum(tape.gradient(loss, list(variables.values())))
        self.optimizer.apply(variables, grads)
        losses = replica_sum({"loss": loss, "context": context})
        finite = keep_if_finite(list(losses.values()) + grads, state, saved)
        assign([self.step], [self.step + tf.cast(finite, tf.int64)])
        return losses, finite

    def checkpoint(self):
        return tf.train.Checkpoint(encoder=self.encoder, optimizer=self.optimizer, step=self.step)


def train_encoder(config):
    """Train (or resume training) the encoder of the GAN in config.checkpoint_dir for
    config.steps steps (an EncoderTrainConfig). Returns the EncoderTrainer."""
    from facedata import dataset
    from inpainting.inpaint import load_model
    from training.loop import TrainLoop

    strategy = distribute.make_strategy(config.distribute, config.virtual_devices)
    distribute.check_batch(config.batch_size, strategy)
    with strategy.scope():  # the frozen GAN too: each replica reads its own copy
        gan = load_model(config.checkpoint_dir, precision=config.precision, generator=config.generator)
        size = gan.config.output_size
        dataset.check_record_size(config.train_records, size)
        architecture = EncoderConfig(output_size=size, z_dim=gan.config.z_dim,
                                     ef_dim=config.ef_dim or gan.config.df_dim, conditional=gan.config.conditional,
                                     seed=config.seed, precision=config.precision, gan=gan.source)
        trainer = EncoderTrainer(gan, architecture, config.lam, config.l2_weight, config.learning_rate, config.seed,
                                 strategy)
    directory = os.path.join(config.checkpoint_dir, ENCODER_DIR)
    recorded = os.path.join(directory, ENCODER_CONFIG)
    if os.path.exists(recorded):  # resuming, or done: only for the same GAN weights
        stale = stale_encoder(directory, load_config(EncoderConfig, recorded, ""), gan)
        if stale:
            raise UserError(stale)
    loop = TrainLoop(trainer.checkpoint(), directory, trainer.step, max_to_keep=2, strategy=strategy)
    if loop.restore():
        loop.say(f"resumed the encoder at step {int(trainer.step.numpy())}")
    if loop.chief:
        save_config(os.path.join(directory, ENCODER_CONFIG), architecture)
    per_epoch = max(1, dataset.count_records(config.train_records) // config.batch_size)
    step = int(trainer.step.numpy())
    if step < config.steps:
        segments = dataset.epoch_iterators(config.train_records, size, config.batch_size, config.seed + 7, step,
                                           config.steps, per_epoch, distribute.inputs(strategy))
        loop.run(trainer.train_steps, segments, config.steps, save_interval=config.saveInterval,
                 print_every=config.print_every,
                 describe=lambda step, losses: f"encoder loss {losses['loss']:.1f} context {losses['context']:.1f}")
    loop.say(f"encoder in {directory}")
    return trainer


def load_encoder(checkpoint_dir, gan):
    """The encoder trained for the GAN weights `gan` holds (inpaint.load_model of
    checkpoint_dir); one clear line if there is none or it was trained for other weights."""
    directory = os.path.join(checkpoint_dir, ENCODER_DIR)
    missing = (f"no trained encoder in {directory}: run `python train_encoder.py --checkpoint_dir "
               f"{checkpoint_dir}` first, or use --z_init random")
    latest = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
    if latest is None:
        raise UserError(missing)
    config = load_config(EncoderConfig, os.path.join(directory, ENCODER_CONFIG), missing)
    if (config.output_size, config.z_dim, config.conditional) != (gan.config.output_size, gan.config.z_dim,
                                                                  gan.config.conditional):
        raise UserError(f"the encoder in {directory} was trained for another model: retrain it with train_encoder.py")
    stale = stale_encoder(directory, config, gan)
    if stale:
        raise UserError(stale)
    encoder = Encoder(config)
    try:
        status = tf.train.Checkpoint(encoder=encoder).restore(latest)
        status.expect_partial()  # its optimiser is not needed to infer
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        raise UserError(f"{latest} does not hold the encoder its {ENCODER_CONFIG} describes "
                        f"({str(error).splitlines()[0][:120]}): retrain it with train_encoder.py")
    return encoder


def make_z_init(z_init, checkpoint_dir, gan):
    """None for a random start, else the encoder's z_init(images, masks, maps) -> z."""
    if z_init != "encoder":
        return None
    return encoder_z_init(load_encoder(checkpoint_dir, gan))


def stale_encoder(directory, config, gan):
    """One line saying the encoder in `directory` was trained for other GAN weights than
    `gan` holds (main.py trained on in the same folder since, or --generator differs), or
    None when it fits."""
    if config.gan == gan.source:
        return None
    was = f"GAN weights {config.gan}" if config.gan else "GAN weights it did not record"
    return (f"the encoder in {directory} was trained for {was}, but the model is now {gan.source}: move that "
            f"folder away and run `python train_encoder.py --checkpoint_dir {os.path.dirname(directory)}` again")


def encoder_z_init(encoder):
    """A z_init(images, masks, keypoint_maps) -> z for the search's orchestration."""
    def z_init(images, masks, keypoint_maps):
        m = np.asarray(masks, np.float32)
        m = m[..., None] if m.ndim == 3 else m
        return encoder(tf.constant(images, tf.float32), tf.constant(m), tf.constant(keypoint_maps, tf.float32)).numpy()
    return z_init
