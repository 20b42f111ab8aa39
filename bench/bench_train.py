"""Training-step speed against the FLOP floor of this machine.

    python bench/bench_train.py --output_size 64 --batch_size 64 --steps 3

Measures the float32 matmul peak of this machine first, then times the compiled train step
with and without XLA and with and without the exact tiled-z shortcut of the first conv.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from core.tfstart import tf  # noqa: E402

from model import KeypointGAN, ModelConfig, train_step_flops  # noqa: E402


def network_args(p):
    """The model size flags shared by the benchmarks (the paper's widths at 64x64)."""
    p.add_argument("--output_size", type=int, default=64, help="model size in pixels")
    p.add_argument("--batch_size", type=int, default=64, help="faces per step")
    p.add_argument("--gf_dim", type=int, default=64, help="generator width")
    p.add_argument("--df_dim", type=int, default=64, help="discriminator width")
    return p


def parse_args(argv=None):
    p = network_args(argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                             formatter_class=argparse.ArgumentDefaultsHelpFormatter))
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant (after 1 warm-up)")
    p.add_argument("--variants", default="plain,shortcut,xla+shortcut",
                   help="comma list of plain, shortcut, xla, xla+shortcut, mirrored+shortcut (the step over "
                        "--virtual_devices replicas, at the same global batch)")
    p.add_argument("--virtual_devices", type=int, default=2, help="logical CPU devices for the mirrored variant")
    return p.parse_args(argv)


def matmul_peak(n=4096, repeats=3, trials=3):
    """Measured float32 matmul GFLOP/s of this machine: the best of a few timed trials."""
    a = tf.random.uniform([n, n])
    mm = tf.function(lambda x: tf.matmul(x, x))
    mm(a).numpy()
    best = 0.0
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            mm(a).numpy()
        best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def time_fn(fn, steps):
    fn()  # trace and compile
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def time_train_step(config, batch_size, steps, xla, shortcut, strategy=None):
    """Seconds per train step on uint8 batches (as the pipeline gives them), on one device or
    on the replicas of `strategy` (batch_size is then the global batch)."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        gan = KeypointGAN(config, jit_compile=xla, tiled_z_shortcut=shortcut, strategy=strategy)
    shape = [batch_size, config.output_size, config.output_size, 3]
    images, maps = (tf.cast(tf.random.uniform(shape, 0, 256, tf.int32), tf.uint8) for _ in range(2))
    if strategy.num_replicas_in_sync > 1:  # each replica its rows of the global batch
        batches = tf.data.Dataset.from_tensor_slices((images, maps)).batch(batch_size)
        images, maps = next(iter(strategy.experimental_distribute_dataset(batches)))
    return time_fn(lambda: gan.train_step(images, maps)["g_loss"].numpy(), steps)


def main(args):
    config = ModelConfig(output_size=args.output_size, gf_dim=args.gf_dim, df_dim=args.df_dim)
    mirrored = None
    if "mirrored" in args.variants:  # the CPU is split before TensorFlow starts its devices
        from core.distribute import make_strategy
        mirrored = make_strategy("mirrored", args.virtual_devices)
    peak = matmul_peak()
    plain_flops = train_step_flops(config, args.batch_size)
    print(f"matmul peak {peak:.1f} GFLOP/s; train step {plain_flops / 1e9:.0f} GFLOP at batch "
          f"{args.batch_size}, {args.output_size}x{args.output_size}: floor {plain_flops / peak / 1e9:.1f} s")
    rows, plain_time = [], None
    for variant in args.variants.split(","):
        xla, shortcut = "xla" in variant, "shortcut" in variant
        strategy = mirrored if "mirrored" in variant else None
        seconds = time_train_step(config, args.batch_size, args.steps, xla, shortcut, strategy)
        flops = train_step_flops(config, args.batch_size, shortcut)
        plain_time = plain_time or (seconds if variant == "plain" else None)
        rows.append((variant, seconds, flops, flops / seconds / 1e9 / peak))
        print(f"{variant:14s} {seconds:7.3f} s/step  {flops / 1e9:6.0f} GFLOP executed  "
              f"{100 * flops / seconds / 1e9 / peak:5.1f}% of peak  "
              f"{100 * plain_flops / seconds / 1e9 / peak:5.1f}% of peak in plain-model FLOPs", flush=True)
    return {"peak_gflops": peak, "rows": rows}


if __name__ == "__main__":
    main(parse_args())
