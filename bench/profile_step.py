"""Where a training step's time goes: the TensorFlow profiler over one comparison worker.

    python bench/profile_step.py                         # the conditioned model, alone and beside a DCGAN
    python bench/profile_step.py --arch dcgan --beside 0 --steps 100
    python bench/profile_step.py --onednn 0                # TensorFlow's own kernels, not oneDNN's

Each measurement runs in a fresh process set up as experiments.py's training workers are
(TensorFlow ops on one thread each, jobs.ONE_THREAD; `--one_op_at_a_time` also runs one op
at a time), at the comparison's sizes, on random batches, with several steps per compiled
call as training does. It prints the step's wall milliseconds, then the TensorFlow
profiler's self-time per op type over --steps further steps (summed over TensorFlow's
threads, so it can exceed the wall time when independent ops run on the second core), and
the convolutions' GFLOP/s against this machine's one-thread matmul peak.

"alone": nothing else runs. "beside N": N other processes train the authors' DCGAN in
a loop meanwhile, as the comparison's other jobs do (the machine has 2 cores).

The profile is read with TensorFlow's own converter (the private module
tensorflow.python.profiler.internal._pywrap_profiler_plugin, which TensorBoard's profile
plugin uses; checked with TensorFlow 2.21).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CHUNK = 10  # steps per compiled call


def parse_args(argv=None):
    import experiments
    d = experiments.parse_args([])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", default="ecgan", choices=["ecgan", "dcgan"], help="the profiled model")
    p.add_argument("--conditional", type=int, default=1, help="1: the keypoint-conditioned ECGAN (ecgan only)")
    for name in ("output_size", "gf_dim", "df_dim", "batch_size"):
        p.add_argument(f"--{name}", type=int, default=getattr(d, name), help=f"as experiments.py's --{name}")
    p.add_argument("--steps", type=int, default=60, help="profiled steps (and as many timed before them)")
    p.add_argument("--beside", default="0,1", help="comma list: how many DCGAN trainings run beside it")
    p.add_argument("--one_op_at_a_time", action="store_true", help="also one inter-op thread (truly one core)")
    p.add_argument("--onednn", type=int, default=1, help="0: TensorFlow's own kernels (TF_ENABLE_ONEDNN_OPTS=0)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: profile, or load
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def model_config(args, arch, conditional):
    from model import ModelConfig
    return ModelConfig(output_size=args.output_size, gf_dim=args.gf_dim, df_dim=args.df_dim,
                       conditional=bool(conditional) and arch == "ecgan", arch=arch)


def trainer(config, batch_size):
    """A compiled call of CHUNK train steps on random uint8 batches."""
    from model import KeypointGAN
    from core.tfstart import tf
    gan = KeypointGAN(config, ema_decay=0.999)
    shape = [batch_size, config.output_size, config.output_size, 3]
    batches = [tf.cast(tf.random.stateless_uniform(shape, [0, i], 0, 256, tf.int32), tf.uint8) for i in range(2)]
    iterator = iter(tf.data.Dataset.from_tensors(tuple(batches)).repeat())
    count = tf.constant(CHUNK)
    return lambda: gan.train_steps(iterator, count)[1].numpy()


def op_stats(xplane):
    """{op type: (self microseconds, occurrences)} of the host's ops in a profile, idle excluded."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
    data, ok = plugin.xspace_to_tools_data([xplane], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"the profiler's converter could not read {xplane}")
    table = json.loads(data)[0]
    names = [c["id"] for c in table["cols"]]
    out = {}
    for row in table["rows"]:
        r = dict(zip(names, (c.get("v") for c in row["c"])))
        if r["type"] != "IDLE":
            us, n = out.get(r["type"], (0.0, 0))
            out[r["type"]] = (us + r["total_self_time"], n + r["occurrences"])
    return out


def profile_worker(args):
    """In a fresh process: ms a step, then the profile of args.steps steps, written to args.out."""
    from bench.bench_train import matmul_peak
    from model import train_step_flops
    from core.tfstart import tf
    config = model_config(args, args.arch, args.conditional)
    run = trainer(config, args.batch_size)
    calls = max(1, args.steps // CHUNK)
    for _ in range(2):
        run()  # trace, compile, warm up
    started = time.perf_counter()
    for _ in range(calls):
        run()
    step_ms = 1000 * (time.perf_counter() - started) / (calls * CHUNK)
    logdir = tempfile.mkdtemp(prefix="profile_")
    tf.profiler.experimental.start(logdir)
    for _ in range(calls):
        run()
    tf.profiler.experimental.stop()
    stats = op_stats(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[-1])
    with open(args.out, "w") as f:
        json.dump({"step_ms": step_ms, "steps": calls * CHUNK, "ops": stats,
                   "d_halves_ms": discriminator_halves_ms(config, args.batch_size, calls * CHUNK),
                   "step_gflop": train_step_flops(config, args.batch_size, True) / 1e9,
                   "peak_one_thread": matmul_peak(n=2048)}, f)


def discriminator_halves_ms(config, batch_size, repeats):
    """Milliseconds of D's forward and weight gradients on real and on fake faces: as the step
    does it (two calls of batch_size) and as one call of 2 x batch_size, the most that
    fusing the two halves into one batch could save (its batch norm would then need
    per-half statistics, more ops)."""
    from model import Discriminator
    from ops import named_variables
    from core.tfstart import tf
    d = Discriminator(config)
    weights = list(named_variables(d).values())
    shape = [2 * batch_size, config.output_size, config.output_size, 3]
    faces, maps = (tf.random.stateless_uniform(shape, [1, i], -1, 1) for i in range(2))

    def gradients(*halves):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_sum(d(x, m, True)) for x, m in halves])
        return tape.gradient(loss, weights)
    halves = [(faces[i * batch_size:(i + 1) * batch_size], maps[i * batch_size:(i + 1) * batch_size]) for i in range(2)]
    two = tf.function(lambda: gradients(*halves))
    one = tf.function(lambda: gradients((faces, maps)))
    out = {}
    for name, fn in (("two calls", two), ("one call", one)) * 2:  # twice, in turns: the second counts
        fn()
        started = time.perf_counter()
        for _ in range(repeats):
            fn()[0].numpy()
        out[name] = 1000 * (time.perf_counter() - started) / repeats
    return out


def load_worker(args):
    """In a fresh process: trains the DCGAN until killed (the other jobs of the comparison)."""
    run = trainer(model_config(args, "dcgan", False), args.batch_size)
    while True:
        run()


def worker_command(args, role, out=None):
    flags = ["--arch", args.arch, "--conditional", str(args.conditional), "--steps", str(args.steps)]
    for name in ("output_size", "gf_dim", "df_dim", "batch_size"):
        flags += [f"--{name}", str(getattr(args, name))]
    return [sys.executable, os.path.abspath(__file__), "--worker", role] + flags + (["--out", out] if out else [])


def measure(args, beside):
    from training.jobs import ONE_OP_AT_A_TIME, ONE_THREAD
    env = dict(os.environ, **(ONE_OP_AT_A_TIME if args.one_op_at_a_time else ONE_THREAD),
               TF_ENABLE_ONEDNN_OPTS=str(args.onednn))
    loads = [subprocess.Popen(worker_command(args, "load"), env=dict(os.environ, **ONE_THREAD), cwd=ROOT)
             for _ in range(beside)]
    try:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run(worker_command(args, "profile", out.name), env=env, cwd=ROOT, check=True)
            return json.load(open(out.name))
    finally:
        for load in loads:
            load.kill()
            load.wait()


CONV_TYPES = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "FusedConv2D")


def is_conv(op_type):
    return any(op_type.replace("_MklNative", "").replace("_Mkl", "") == t for t in CONV_TYPES)


def report(args, results, top=12):
    from paper.report import machine
    threads = "one thread an op, one op at a time" if args.one_op_at_a_time else "one thread an op"
    threads += "" if args.onednn else ", oneDNN off"
    print(f"{machine()}; {args.arch}{' conditioned' if args.arch == 'ecgan' and args.conditional else ''} train "
          f"step at {args.output_size}x{args.output_size}, gf_dim {args.gf_dim}, df_dim {args.df_dim}, batch "
          f"{args.batch_size}, {threads}")
    for beside, r in results:
        steps, ops = r["steps"], r["ops"]
        total = sum(us for us, _ in ops.values()) / steps / 1000
        conv = sum(us for t, (us, _) in ops.items() if is_conv(t)) / steps / 1000
        where = "alone" if beside == 0 else f"beside {beside} DCGAN training{'s' if beside > 1 else ''}"
        print(f"\n{where}: {r['step_ms']:.1f} ms a step (wall); profiler self-time {total:.1f} ms a step over "
              f"{sum(n for _, n in ops.values()) / steps:.0f} ops; convolutions {conv:.1f} ms "
              f"({100 * conv / total:.0f}%), the step's FLOPs over their time {r['step_gflop'] / conv * 1000:.0f} "
              f"GFLOP/s; one-thread matmul peak {r['peak_one_thread']:.0f} GFLOP/s")
        halves = r["d_halves_ms"]
        print(f"D on real and on fake faces (forward and gradients): two calls of {args.batch_size} "
              f"{halves['two calls']:.1f} ms, one call of {2 * args.batch_size} {halves['one call']:.1f} ms "
              f"({halves['two calls'] / halves['one call']:.2f}x)")
        print("| op type | ms a step | ops a step |\n|---|---|---|")
        for t, (us, n) in sorted(ops.items(), key=lambda kv: -kv[1][0])[:top]:
            print(f"| {t} | {us / steps / 1000:.2f} | {n / steps:.0f} |")


def main(args):
    if args.worker == "profile":
        return profile_worker(args)
    if args.worker == "load":
        return load_worker(args)
    results = [(int(b), measure(args, int(b))) for b in args.beside.split(",")]
    report(args, results)


if __name__ == "__main__":
    main(parse_args())
