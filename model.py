"""The keypoint-conditioned GAN of Lahiri et al. (docs/spec.md section 3), the authors' DCGAN
baseline (section 3b), and their training step.

arch "ecgan" (the paper's model): G is an encoder-decoder over z tiled over the image and
concatenated with the keypoint map, a 5x5 stride-1 conv, four 5x5 stride-2 convs, four 5x5
stride-2 transposed convs (tanh out); BN + ReLU between. D: image (+ keypoint map) through
5x5 stride-2 convs down to 4x4, leaky ReLU 0.1, BN from the second conv on, then one logit.
With conditional=False neither network sees a map: an ablation, "the same generator
without its map", whose only spatial cue is the zero padding at the borders.

arch "dcgan" (the paper's DIP row, from the DCGAN/ folder of the authors' first commit):
G is a linear layer from z to 4x4, then 3x3 stride-2 transposed convs halving the width
up to the image; D is the discriminator above on the image alone. Always unconditioned.
"""
import math

from core import distribute
from core.configs import ModelConfig  # noqa: F401  (part of this module's API: the networks' config)
from core.tfstart import tf
from ops import (BN_MOMENTUM, COMPUTE_DTYPES, Adam, BatchNorm, Conv2D, Conv2DTranspose, ConvStack, Dense,
                 ResizeConv2D, assign, global_mean_share, keep_if_finite, named_variables, replica_rows, replica_sum,
                 replicas, snapshot, to_model_range)


class Generator(tf.Module):
    def __init__(self, config, name="generator"):
        super().__init__(name=name)
        c, g = config, config.gf_dim
        self.config = config
        seeds, dtype = iter([[c.seed, i] for i in range(100)]), compute_dtype(c)
        self.conv0 = Conv2D(c.z_dim + c.map_channels, 2 * g, next(seeds), stride=1, compute_dtype=dtype)
        widths = [2 * g, 2 * g, 4 * g, 8 * g, 16 * g]
        self.down = [Conv2D(a, b, next(seeds), compute_dtype=dtype) for a, b in zip(widths[:-1], widths[1:])]
        ups = [16 * g, 8 * g, 4 * g, 2 * g, c.c_dim]
        self.up = [upsampling_layer(c, a, b, next(seeds)) for a, b in zip(ups[:-1], ups[1:])]
        self.norms = [BatchNorm(w) for w in widths + ups[1:-1]]

    def first_conv(self, z, keypoint_maps, tiled_z_shortcut=True):
        """The stride-1 conv over [tile(z), map].

        Most of it convolves the spatially constant tiled z; with SAME zero padding its
        output depends only on which kernel taps fall inside the image, i.e. on each
        pixel's distance to the borders. So it is computed exactly as a per-tap product
        z . W_z ([B, 5, 5, C]) summed over the valid taps of each row and column: ~100x
        fewer FLOPs than convolving 100 constant channels (44% of G at 128x128).
        """
        size, z_dim, dtype = self.config.output_size, self.config.z_dim, self.conv0.compute_dtype
        z = tf.cast(z, dtype)
        keypoint_maps = None if keypoint_maps is None else tf.cast(keypoint_maps, dtype)
        if not tiled_z_shortcut:
            tiled = tf.tile(z[:, None, None, :], [1, size, size, 1])
            x = tiled if keypoint_maps is None else tf.concat([tiled, keypoint_maps], axis=-1)
            return self.conv0(x)
        w = tf.cast(self.conv0.w, dtype)
        k = w.shape[0]
        per_tap = tf.einsum("bz,yxzc->byxc", z, w[:, :, :z_dim, :])
        offsets = tf.range(k) - k // 2
        positions = tf.range(size)[:, None] + offsets[None, :]
        valid = tf.cast((positions >= 0) & (positions < size), z.dtype)  # [size, k]
        out = tf.einsum("iy,jx,byxc->bijc", valid, valid, per_tap)
        if keypoint_maps is not None:
            out += tf.nn.conv2d(keypoint_maps, w[:, :, z_dim:, :], 1, "SAME")
        return out + tf.cast(self.conv0.b, dtype)

    def __call__(self, z, keypoint_maps=None, training=False, tiled_z_shortcut=True, bn_momentum=BN_MOMENTUM):
        """z [B, z_dim] in [-1, 1], keypoint_maps [B, S, S, 3] in [-1, 1] -> images in [-1, 1].
        bn_momentum: of the batch-norm moving averages while training (ops.BatchNorm)."""
        if not self.config.conditional:
            keypoint_maps = None
        x = self.first_conv(z, keypoint_maps, tiled_z_shortcut)
        norms = iter(self.norms)
        x = tf.nn.relu(next(norms)(x, training, bn_momentum))
        for conv in self.down:
            x = tf.nn.relu(next(norms)(conv(x), training, bn_momentum))
        for deconv in self.up[:-1]:
            x = tf.nn.relu(next(norms)(deconv(x), training, bn_momentum))
        return tf.cast(tf.tanh(self.up[-1](x)), tf.float32)

    def layer_flops(self, tiled_z_shortcut=False):
        """Forward FLOPs per image of each layer. With the shortcut, the first conv convolves
        only the map (the tiled-z part costs next to nothing)."""
        first, side = self.conv0.flops(self.config.output_size,
                                       self.config.map_channels if tiled_z_shortcut else None)
        out = [first]
        for layer in self.down + self.up:
            flops, side = layer.flops(side)
            out.append(flops)
        return out


class DCGANGenerator(tf.Module):
    """The authors' DIP baseline (docs/spec.md section 3b): z -> linear -> 4x4 x C0, BN, ReLU; then 3x3
    stride-2 transposed convs (their deconv2d's default kernel) halving the width down to
    gf_dim, BN + ReLU after each but the last, tanh out. C0 = gf_dim * S / 8 (512 at 64 and
    1024 at 128 with gf_dim 64)."""

    def __init__(self, config, name="generator"):
        super().__init__(name=name)
        c, g = config, config.gf_dim
        self.config = config
        depth = int(math.log2(c.output_size)) - 2  # transposed convs from 4x4 up to S
        widths = [g * 2 ** (depth - 1 - i) for i in range(depth)] + [c.c_dim]
        self.project = Dense(c.z_dim, 16 * widths[0], [c.seed, 0], compute_dtype=compute_dtype(c))
        self.up = [upsampling_layer(c, a, b, [c.seed, 1 + i]) for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]
        self.norms = [BatchNorm(w) for w in widths[:-1]]

    def __call__(self, z, keypoint_maps=None, training=False, tiled_z_shortcut=True, bn_momentum=BN_MOMENTUM):
        """z [B, z_dim] in [-1, 1] -> images [B, S, S, 3] in [-1, 1]; takes no map."""
        x = tf.reshape(self.project(z), [-1, 4, 4, self.norms[0].gamma.shape[0]])
        for norm, deconv in zip(self.norms, self.up):
            x = deconv(tf.nn.relu(norm(x, training, bn_momentum)))
        return tf.cast(tf.tanh(x), tf.float32)

    def layer_flops(self, tiled_z_shortcut=False):
        out, side = [self.project.flops()], 4
        for deconv in self.up:
            flops, side = deconv.flops(side)
            out.append(flops)
        return out


def upsampling_layer(config, in_channels, out_channels, seed):
    """A layer doubling H and W: the config's upsampling with its kernel."""
    layer = ResizeConv2D if config.upsample == "resize" else Conv2DTranspose
    return layer(in_channels, out_channels, seed, kernel=config.up_kernel, compute_dtype=compute_dtype(config))


def compute_dtype(config):
    """The dtype of the networks' convs and matmuls: float32, or bfloat16 for mixed precision."""
    return COMPUTE_DTYPES[config.precision]


def make_generator(config):
    return DCGANGenerator(config) if config.arch == "dcgan" else Generator(config)


class Discriminator(ConvStack):
    def __init__(self, config, name="discriminator"):
        super().__init__(config.c_dim + config.map_channels, config.df_dim, config.output_size, config.seed,
                         first_layer=100, compute_dtype=compute_dtype(config), name=name)
        self.config = config
        self.dense = Dense(self.features, 1, [config.seed, 200], compute_dtype=compute_dtype(config))

    def __call__(self, images, keypoint_maps=None, training=False):
        """Logits [B] that images (given their maps) are real."""
        x = tf.concat([images, keypoint_maps], axis=-1) if self.config.conditional else images
        return tf.cast(self.dense(self.body(x, training))[:, 0], tf.float32)  # logits and losses in float32


def bce(logits, label):
    """Sigmoid cross-entropy of logits against a constant label, per example."""
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), float(label)), logits=logits)


class GANNetworks(tf.Module):
    """The generator and discriminator of one model: all that inference needs."""

    def __init__(self, config, name="keypoint_gan"):
        super().__init__(name=name)
        self.config = config
        self.generator = make_generator(config)
        self.discriminator = Discriminator(config)

    def checkpoint(self):
        return tf.train.Checkpoint(generator=self.generator, discriminator=self.discriminator)


class KeypointGAN(GANNetworks):
    """The networks, their optimisers and the step counter: the training state, all of it in
    the checkpoint. Build it inside strategy.scope() to train on the strategy's replicas.

    With ema_decay > 0 it also keeps generator_average, an exponential moving average of
    G's weights (Karras et al. 2018; Yazici et al. 2019), updated after every G step with
    the decay min(ema_decay, (1 + t) / (10 + t)) at step t, so the random initial weights
    are forgotten within the first steps. Its batch-norm statistics are not averaged: they
    are measured for the averaged weights (recalibrate) before it is saved or sampled."""

    def __init__(self, config, learning_rate=2e-4, beta1=0.5, jit_compile=False, noise_seed=0,
                 tiled_z_shortcut=True, strategy=None, ema_decay=0.0):
        super().__init__(config)
        self.tiled_z_shortcut, self.noise_seed, self.ema_decay = tiled_z_shortcut, noise_seed, ema_decay
        self.strategy = strategy or tf.distribute.get_strategy()
        self.g_optimizer = Adam(named_variables(self.generator), learning_rate, beta1)
        self.d_optimizer = Adam(named_variables(self.discriminator), learning_rate, beta1)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.generator_average = make_generator(config) if ema_decay > 0 else None
        step = tf.function(self._train_step, jit_compile=True) if jit_compile else self._train_step
        self.train_step = tf.function(lambda images, maps: distribute.run_step(self.strategy, step, images, maps)[0])
        self.train_steps = tf.function(
            lambda iterator, count: distribute.run_steps(self.strategy, step, LOSS_NAMES, iterator, count))
        self.recalibrate = tf.function(self._recalibrate)

    def sample_z(self, batch_size, draw):
        """This replica's rows of the step's z for the global batch: uniform in [-1, 1], a
        function of (noise seed, step, draw) only, so a resumed run, and a run on any
        number of replicas, draws what one uninterrupted device would."""
        seed = tf.stack([tf.constant(self.noise_seed, tf.int64), 2 * self.step + draw])
        z = tf.random.stateless_uniform([batch_size * replicas()[1], self.config.z_dim], seed, -1.0, 1.0)
        return replica_rows(z)

    def _train_step(self, images, keypoint_maps):
        """One D update, then one G update with a fresh z (the original's schedule), on this
        replica's part of the global batch, then the average of G. images, keypoint_maps:
        uint8 [B, S, S, 3], made [-1, 1] here. Returns the four losses over the global batch
        and whether the step was finite. A step with a non-finite loss or gradient changes
        nothing (weights, average, moments, batch-norm statistics and the step counter stay
        as they were), so a run stopped there can be saved and resumed from its last finite
        state."""
        images, keypoint_maps = uint8_to_model_range(images, keypoint_maps)
        modules = [self.generator, self.discriminator, self.g_optimizer, self.d_optimizer, self.generator_average]
        state = [v for m in modules if m is not None for v in m.variables]
        saved = snapshot(state)
        batch = tf.shape(images)[0]
        fake = self.generator(self.sample_z(batch, 0), keypoint_maps, True, self.tiled_z_shortcut)
        with tf.GradientTape() as tape:
            d_loss_real = global_mean_share(bce(self.discriminator(images, keypoint_maps, True), 1.0))
            d_loss_fake = global_mean_share(bce(self.discriminator(fake, keypoint_maps, True), 0.0))
            d_loss = d_loss_real + d_loss_fake
        d_vars = named_variables(self.discriminator)
        d_grads = replica_sum(tape.gradient(d_loss, list(d_vars.values())))
        self.d_optimizer.apply(d_vars, d_grads)

        with tf.GradientTape() as tape:
            fake = self.generator(self.sample_z(batch, 1), keypoint_maps, True, self.tiled_z_shortcut)
            g_loss = global_mean_share(bce(self.discriminator(fake, keypoint_maps, True), 1.0))
        g_vars = named_variables(self.generator)
        g_grads = replica_sum(tape.gradient(g_loss, list(g_vars.values())))
        self.g_optimizer.apply(g_vars, g_grads)
        if self.generator_average is not None:
            t = tf.cast(self.step, tf.float32)
            decay = tf.minimum(tf.constant(self.ema_decay, tf.float32), (1 + t) / (10 + t))
            averages = named_variables(self.generator_average)
            assign(averages.values(), [decay * averages[name] + (1 - decay) * w for name, w in g_vars.items()])
        losses = replica_sum({"d_loss": d_loss, "d_loss_real": d_loss_real, "d_loss_fake": d_loss_fake,
                              "g_loss": g_loss})
        finite = keep_if_finite(list(losses.values()) + d_grads + g_grads, state, saved)
        assign([self.step], [self.step + tf.cast(finite, tf.int64)])
        return losses, finite

    def _recalibrate(self, keypoint_maps):
        """Measures the batch-norm statistics of generator_average for its own weights: the
        mean over the batches of `keypoint_maps` (uint8 [N, S, S, 3], N a multiple of the
        batch B; maps are ignored by an unconditioned G) of each batch's statistics, as in
        training mode, with z drawn from (noise seed, -1 - batch), so they are a function
        of the averaged weights and these maps alone."""
        size = tf.shape(keypoint_maps)[0]
        batch = tf.minimum(size, RECALIBRATION_BATCH)
        for i in tf.range(size // batch):
            seed = tf.stack([tf.constant(self.noise_seed, tf.int64), -1 - tf.cast(i, tf.int64)])
            z = tf.random.stateless_uniform([batch, self.config.z_dim], seed, -1.0, 1.0)
            maps = to_model_range(keypoint_maps[i * batch:(i + 1) * batch])
            n = tf.cast(i, tf.float32)
            self.generator_average(z, maps, True, self.tiled_z_shortcut, bn_momentum=n / (n + 1))

    def checkpoint(self):
        parts = dict(generator=self.generator, discriminator=self.discriminator, g_optimizer=self.g_optimizer,
                     d_optimizer=self.d_optimizer, step=self.step)
        if self.generator_average is not None:
            parts["generator_average"] = self.generator_average
        return tf.train.Checkpoint(**parts)


LOSS_NAMES = ("d_loss", "d_loss_real", "d_loss_fake", "g_loss")
RECALIBRATION_BATCH = 64   # faces per batch when measuring the averaged G's batch-norm statistics
RECALIBRATION_FACES = 1024


def uint8_to_model_range(*batches):
    """The train steps' uint8 inputs (the pipeline keeps them so, a quarter of float32's
    bytes to move and keep) as float32 in [-1, 1]."""
    for batch in batches:
        if batch.dtype != tf.uint8:
            raise TypeError(f"train steps take uint8 batches (dataset.train_batches), not {batch.dtype.name}")
    return [to_model_range(batch) for batch in batches]


def count_parameters(module):
    return int(sum(math.prod(v.shape) for v in module.trainable_variables))


def layer_flops(config, tiled_z_shortcut=False):
    """Forward FLOPs (2 x multiply-adds) per image of each layer: (G layers, D layers), as
    the networks built from this config count them (transposed convs on their input grid)."""
    networks = GANNetworks(config)
    return (networks.generator.layer_flops(tiled_z_shortcut),
            networks.discriminator.conv_flops(config.output_size))


def flops_per_image(config, tiled_z_shortcut=False):
    """Forward FLOPs of G and D per image."""
    g_layers, d_layers = layer_flops(config, tiled_z_shortcut)
    return sum(g_layers), sum(d_layers)


def train_step_flops(config, batch_size, tiled_z_shortcut=False):
    """FLOPs of one train step, a backward pass costing one forward for the weight gradients
    and one for the input gradients, the latter skipped at each network's input layer:
    D step = G forward + D forward, weight and input gradients on real and on fake;
    G step = G forward, weight and input gradients + D forward and input gradients."""
    g_layers, d_layers = layer_flops(config, tiled_z_shortcut)
    g, d = sum(g_layers), sum(d_layers)
    d_step = g + 2 * (d + d + (d - d_layers[0]))
    g_step = (g + g + (g - g_layers[0])) + (d + d)
    return batch_size * (d_step + g_step)
