"""Layers and the optimiser, as plain tf.Modules with the original's initialisers.

Weights are drawn with stateless random ops from (seed, layer number), so a model is the
same for a seed whatever order its layers are built in. Tensors are NHWC.
"""
import tensorflow as tf

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def _normal(shape, stddev, seed, truncated=False):
    draw = tf.random.stateless_truncated_normal if truncated else tf.random.stateless_normal
    return draw(shape, seed=seed, stddev=stddev)


class Conv2D(tf.Module):
    """5x5 convolution, SAME padding; weights truncated normal 0.02, biases 0."""

    def __init__(self, in_channels, out_channels, seed, kernel=5, stride=2, name=None):
        super().__init__(name=name)
        self.stride = stride
        self.w = tf.Variable(_normal([kernel, kernel, in_channels, out_channels], 0.02, seed, True), name="w")
        self.b = tf.Variable(tf.zeros([out_channels]), name="b")

    def __call__(self, x):
        return tf.nn.conv2d(x, self.w, self.stride, "SAME") + self.b


class Conv2DTranspose(tf.Module):
    """5x5 stride-2 transposed convolution doubling H and W; weights normal 0.02, biases 0."""

    def __init__(self, in_channels, out_channels, seed, kernel=5, name=None):
        super().__init__(name=name)
        self.out_channels = out_channels
        self.w = tf.Variable(_normal([kernel, kernel, out_channels, in_channels], 0.02, seed), name="w")
        self.b = tf.Variable(tf.zeros([out_channels]), name="b")

    def __call__(self, x):
        shape = tf.shape(x)
        output_shape = tf.stack([shape[0], shape[1] * 2, shape[2] * 2, self.out_channels])
        return tf.nn.conv2d_transpose(x, self.w, output_shape, 2, "SAME") + self.b


class Dense(tf.Module):
    """Fully connected; weights normal 0.01, biases 0."""

    def __init__(self, in_features, out_features, seed, name=None):
        super().__init__(name=name)
        self.w = tf.Variable(_normal([in_features, out_features], 0.01, seed), name="w")
        self.b = tf.Variable(tf.zeros([out_features]), name="b")

    def __call__(self, x):
        return tf.matmul(x, self.w) + self.b


class BatchNorm(tf.Module):
    """Batch norm over N, H, W: batch statistics while training (updating the moving
    averages with momentum 0.9), moving statistics in inference."""

    def __init__(self, channels, name=None):
        super().__init__(name=name)
        self.gamma = tf.Variable(tf.ones([channels]), name="gamma")
        self.beta = tf.Variable(tf.zeros([channels]), name="beta")
        self.moving_mean = tf.Variable(tf.zeros([channels]), trainable=False, name="moving_mean")
        self.moving_variance = tf.Variable(tf.ones([channels]), trainable=False, name="moving_variance")

    def __call__(self, x, training):
        if training:
            mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
            self.moving_mean.assign(BN_MOMENTUM * self.moving_mean + (1 - BN_MOMENTUM) * mean)
            self.moving_variance.assign(BN_MOMENTUM * self.moving_variance + (1 - BN_MOMENTUM) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, BN_EPSILON)


def lrelu(x, leak=0.1):
    return tf.maximum(x, leak * x)


class Adam(tf.Module):
    """Adam (Kingma & Ba) over a fixed list of variables, elementwise, so the same code
    trains the networks and searches one z per image."""

    def __init__(self, variables, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, name=None):
        super().__init__(name=name)
        self.targets = list(variables)
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name="m") for v in self.targets]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name="v") for v in self.targets]

    def reset(self):
        self.iterations.assign(0)
        for slot in self.m + self.v:
            slot.assign(tf.zeros_like(slot))

    def apply(self, gradients):
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        step = self.learning_rate * tf.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        for var, grad, m, v in zip(self.targets, gradients, self.m, self.v):
            m.assign(self.beta1 * m + (1 - self.beta1) * grad)
            v.assign(self.beta2 * v + (1 - self.beta2) * tf.square(grad))
            var.assign_sub(step * m / (tf.sqrt(v) + self.epsilon))
