"""Layers and the optimiser, as plain tf.Modules with the original's initialisers.

Weights are drawn with stateless random ops from (seed, layer number), so a model is the
same for a seed whatever order its layers are built in. Tensors are NHWC. Mixed precision:
variables stay float32; a layer built with compute_dtype bfloat16 casts its input and
weights and computes in bfloat16 (batch norm keeps its statistics in float32). Each layer counts
its own FLOPs (2 x multiply-adds per image), so the accounting follows the architecture.

Distribution (tf.distribute): the layers and the optimiser run unchanged on one device and
inside `strategy.run` on N replicas. Batch norm then takes its statistics over the global
batch (synchronised), gradients are summed over the replicas before the optimiser sees
them, and every variable is written through `assign`, which each replica does on its own
copy with the value it computed (the same on every replica), so no weights are sent
between devices. Outside a strategy these helpers are plain assignments and identities.
"""
import math

from core.configs import PRECISIONS
from core.tfstart import tf
from utils import from_uint8

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
COMPUTE_DTYPES = {name: tf.as_dtype(name) for name in PRECISIONS}  # configs.PRECISIONS as dtypes


def to_model_range(uint8_images):
    """uint8 pixels (or keypoint maps) as float32 in [-1, 1], the models' range."""
    return from_uint8(tf.cast(uint8_images, tf.float32))


def replicas():
    """(this replica's index, the number of replicas training in sync): (0, 1) on one device."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def replica_sum(x):
    """x summed over the replicas (x itself on one device). Its gradient is the sum of the
    replicas' gradients, so a statistic through it is differentiated as over the global batch."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return x
    return tf.nest.map_structure(lambda t: context.all_reduce(tf.distribute.ReduceOp.SUM, t), x)


def global_mean_share(per_example):
    """This replica's share of the mean over the global batch of per-example values: the
    shares sum over the replicas to that mean, so gradients of the shares, summed over the
    replicas, are the global batch's gradient. (The mean itself on one device.)"""
    _, count = replicas()
    return tf.reduce_mean(per_example) if count == 1 else tf.reduce_mean(per_example) / count


def replica_rows(x):
    """This replica's rows of a tensor made whole on every replica (replica r of R takes the
    r-th of R equal blocks of rows, as the input pipeline splits each global batch)."""
    index, count = replicas()
    if count == 1:
        return x
    rows = tf.shape(x)[0] // count
    return x[index * rows:(index + 1) * rows]


def assign(variables, values, unless=None):
    """variable.assign(value) for each pair; with `unless` (a boolean tensor), only where it is
    false. Inside strategy.run each replica writes its own copy with its own value: the
    values must be the same on every replica (computed from summed gradients and
    synchronised statistics), which lets the copies stay equal with no weights sent."""
    variables, values = list(variables), list(values)

    def write(pairs, skip):
        def do():
            for variable, value in pairs:
                variable.assign(value)
        if skip is None:
            do()
        else:
            tf.cond(skip, lambda: None, do)

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return write(zip(variables, values), unless)

    def per_device(strategy, values, unless):
        for variable, value in zip(variables, values):
            strategy.extended.update(variable, lambda v, x, u: write([(v, x)], u), args=(value, unless), group=False)
    tf.distribute.get_replica_context().merge_call(per_device, args=(values, unless))


def _normal(shape, stddev, seed, truncated=False):
    draw = tf.random.stateless_truncated_normal if truncated else tf.random.stateless_normal
    return draw(shape, seed=seed, stddev=stddev)


class Conv2D(tf.Module):
    """5x5 convolution, SAME padding; weights truncated normal 0.02, biases 0."""

    def __init__(self, in_channels, out_channels, seed, kernel=5, stride=2, compute_dtype=tf.float32, name=None):
        super().__init__(name=name)
        self.stride, self.compute_dtype = stride, compute_dtype
        self.w = tf.Variable(_normal([kernel, kernel, in_channels, out_channels], 0.02, seed, True), name="w")
        self.b = tf.Variable(tf.zeros([out_channels]), name="b")

    def __call__(self, x):
        c = self.compute_dtype
        return tf.nn.conv2d(tf.cast(x, c), tf.cast(self.w, c), self.stride, "SAME") + tf.cast(self.b, c)

    def flops(self, side, in_channels=None):
        """(FLOPs per image, output side) on a side x side input; in_channels counts only
        part of the input (the tiled-z shortcut convolves only the map)."""
        k, _, c_in, c_out = self.w.shape
        out = side // self.stride
        return 2 * out * out * k * k * (c_in if in_channels is None else in_channels) * c_out, out


class Conv2DTranspose(tf.Module):
    """5x5 stride-2 transposed convolution doubling H and W; weights normal 0.02, biases 0."""

    def __init__(self, in_channels, out_channels, seed, kernel=5, compute_dtype=tf.float32, name=None):
        super().__init__(name=name)
        self.out_channels, self.compute_dtype = out_channels, compute_dtype
        self.w = tf.Variable(_normal([kernel, kernel, out_channels, in_channels], 0.02, seed), name="w")
        self.b = tf.Variable(tf.zeros([out_channels]), name="b")

    def __call__(self, x):
        shape = tf.shape(x)
        output_shape = tf.stack([shape[0], shape[1] * 2, shape[2] * 2, self.out_channels])
        c = self.compute_dtype
        return tf.nn.conv2d_transpose(tf.cast(x, c), tf.cast(self.w, c), output_shape, 2, "SAME") + tf.cast(self.b, c)

    def flops(self, side):
        """(FLOPs per image counted on the input grid, output side)."""
        k, _, c_out, c_in = self.w.shape
        return 2 * side * side * k * k * c_in * c_out, 2 * side


class ResizeConv2D(tf.Module):
    """Nearest-neighbour upsampling by 2, then a kernel x kernel stride-1 convolution: the
    resize-convolution of Odena et al. (Distill 2016). Every output pixel sees the same
    number of taps, so it cannot make the period-2 checkerboard of a stride-2 transposed
    convolution. Weights truncated normal 0.02, biases 0."""

    def __init__(self, in_channels, out_channels, seed, kernel=5, compute_dtype=tf.float32, name=None):
        super().__init__(name=name)
        self.conv = Conv2D(in_channels, out_channels, seed, kernel=kernel, stride=1, compute_dtype=compute_dtype)

    def __call__(self, x):
        shape = tf.shape(x)
        x = tf.image.resize(x, tf.stack([shape[1] * 2, shape[2] * 2]), method="nearest")
        return self.conv(x)

    def flops(self, side):
        """(FLOPs per image on the upsampled grid, output side)."""
        return self.conv.flops(2 * side)


class Dense(tf.Module):
    """Fully connected; weights normal 0.01, biases 0."""

    def __init__(self, in_features, out_features, seed, compute_dtype=tf.float32, name=None):
        super().__init__(name=name)
        self.compute_dtype = compute_dtype
        self.w = tf.Variable(_normal([in_features, out_features], 0.01, seed), name="w")
        self.b = tf.Variable(tf.zeros([out_features]), name="b")

    def __call__(self, x):
        c = self.compute_dtype
        return tf.matmul(tf.cast(x, c), tf.cast(self.w, c)) + tf.cast(self.b, c)

    def flops(self):
        return 2 * self.w.shape[0] * self.w.shape[1]


class BatchNorm(tf.Module):
    """Batch norm over N, H, W: batch statistics while training (updating the moving
    averages with momentum 0.9), moving statistics in inference."""

    def __init__(self, channels, name=None):
        super().__init__(name=name)
        self.gamma = tf.Variable(tf.ones([channels]), name="gamma")
        self.beta = tf.Variable(tf.zeros([channels]), name="beta")
        self.moving_mean = tf.Variable(tf.zeros([channels]), trainable=False, name="moving_mean")
        self.moving_variance = tf.Variable(tf.ones([channels]), trainable=False, name="moving_variance")

    def __call__(self, x, training, momentum=BN_MOMENTUM):
        """Statistics and normalisation in float32 whatever x's dtype (bfloat16 has 8 bits of
        mantissa: too few for a variance); the result in x's dtype. While training, the
        moving averages become momentum * themselves + (1 - momentum) * the batch's (a
        tensor momentum is allowed: 0 replaces them by the batch's statistics)."""
        dtype, x = x.dtype, tf.cast(x, tf.float32)
        if not training:
            # One fused kernel (and one for its gradient, which the latent search takes).
            y, *_ = tf.compat.v1.nn.fused_batch_norm(x, self.gamma, self.beta, self.moving_mean,
                                                     self.moving_variance, BN_EPSILON, is_training=False)
            return tf.cast(y, dtype)
        if replicas()[1] == 1:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, self.gamma, self.beta, epsilon=BN_EPSILON)[:3]
            # The fused kernel hands back the unbiased variance; the moving average keeps the
            # biased one it normalises with, as the synchronised path below does.
            count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
            variance = variance * (count - 1) / count
        else:
            mean, variance = self.batch_moments(x)
            y = tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, BN_EPSILON)
        assign([self.moving_mean, self.moving_variance],
               [momentum * self.moving_mean + (1 - momentum) * mean,
                momentum * self.moving_variance + (1 - momentum) * variance])
        return tf.cast(y, dtype)

    @staticmethod
    def batch_moments(x):
        """Mean and variance over N, H, W of the global batch on N replicas: two passes of
        sums over all of them (synchronised batch norm, so N replicas at global batch B
        normalise as one device at B); the variance's pass, like tf.nn.moments, takes the
        mean as a constant."""
        count = replica_sum(tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32))
        mean = replica_sum(tf.reduce_sum(x, axis=[0, 1, 2])) / count
        deviation = tf.square(x - tf.stop_gradient(mean))
        return mean, replica_sum(tf.reduce_sum(deviation, axis=[0, 1, 2])) / count


def lrelu(x, leak=0.1):
    return tf.maximum(x, leak * x)


class ConvStack(tf.Module):
    """The discriminator's body, shared by the encoder: 5x5 stride-2 convs from `size` down
    to 4x4, widths width, 2 width, 4 width, ...; leaky ReLU 0.1, batch norm from the second
    conv on. Conv i draws its weights from (seed, first_layer + i)."""

    def __init__(self, in_channels, width, size, seed, first_layer, compute_dtype=tf.float32, name=None):
        super().__init__(name=name)
        depth = int(math.log2(size)) - 2
        widths = [in_channels] + [width * 2 ** i for i in range(depth)]
        self.convs = [Conv2D(a, b, [seed, first_layer + i], compute_dtype=compute_dtype)
                      for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]
        self.norms = [BatchNorm(w) for w in widths[2:]]
        self.features = 16 * widths[-1]

    def body(self, x, training):
        """[B, S, S, in_channels] -> the flattened 4x4 features [B, self.features]."""
        x = lrelu(self.convs[0](x))
        for conv, norm in zip(self.convs[1:], self.norms):
            x = lrelu(norm(conv(x), training))
        return tf.reshape(x, [tf.shape(x)[0], -1])

    def conv_flops(self, side):
        out = []
        for conv in self.convs:
            flops, side = conv.flops(side)
            out.append(flops)
        return out


def named_variables(module, trainable_only=True):
    """{path: variable} of a module, the path spelled by attribute names and list indices
    ("down.0.w"): optimiser slots are paired with their variable by this name."""
    def wanted(v):
        return isinstance(v, tf.Variable) and (v.trainable or not trainable_only)
    return {".".join(map(str, path)): v for path, v in module._flatten(predicate=wanted, with_path=True)}


class Adam(tf.Module):
    """Adam (Kingma & Ba), elementwise, so the same code trains the networks and searches one
    z per image. Its slots are keyed by the names of `variables` ({name: variable}, e.g.
    named_variables(generator)); it keeps no reference to the variables themselves, so a
    checkpoint finds each weight under the network that owns it, not under the optimiser."""

    def __init__(self, variables, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, name=None):
        super().__init__(name=name)
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self.m = {k: tf.Variable(tf.zeros_like(v), trainable=False, name="m") for k, v in variables.items()}
        self.v = {k: tf.Variable(tf.zeros_like(v), trainable=False, name="v") for k, v in variables.items()}

    def reset(self):
        self.iterations.assign(0)
        for slot in list(self.m.values()) + list(self.v.values()):
            slot.assign(tf.zeros_like(slot))

    def apply(self, variables, gradients):
        """One step of each variable of {name: variable} along its gradient (same order);
        on N replicas the gradients must already be summed over them (replica_sum)."""
        iterations = self.iterations + 1
        t = tf.cast(iterations, tf.float32)
        step = self.learning_rate * tf.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        targets, values = [self.iterations], [iterations]
        for (name, var), grad in zip(variables.items(), gradients):
            m = self.beta1 * self.m[name] + (1 - self.beta1) * grad
            v = self.beta2 * self.v[name] + (1 - self.beta2) * tf.square(grad)
            targets += [self.m[name], self.v[name], var]
            values += [m, v, var - step * m / (tf.sqrt(v) + self.epsilon)]
        assign(targets, values)


def snapshot(variables):
    """Copies of the variables' values, taken before a step that may have to be undone."""
    return [tf.identity(v) for v in variables]


def keep_if_finite(tensors, variables, saved):
    """Puts the variables back to `saved` unless every tensor is finite; returns that test.
    Used inside a compiled train step, so a step that went non-finite leaves no trace."""
    # One sum per tensor: a sum is finite only if every element is (an overflow of finite
    # values to inf would also stop the step, harmlessly).
    finite = tf.math.is_finite(tf.add_n([tf.reduce_sum(t) for t in tensors]))
    assign(variables, saved, unless=finite)
    return finite
