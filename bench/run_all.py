"""All benchmarks behind one command, printed as one table.

    python bench/run_all.py            # paper widths at 64x64, batch 64 (about 4 minutes on 2 cores)
    python bench/run_all.py --quick    # small widths, a smoke test of the scripts

Training step and z-iteration are timed against their FLOP floor at this machine's measured
float32 matmul peak; Poisson blending against a per-pixel-loop baseline; preprocessing as
images per second with 1 and 2 processes; the training input pipeline's images per second
(bench_pipeline.py); pasting a fill back into a 512 and a 1080p frame (bench_paste.py); a
face video's per-frame cost outside the search (bench_sequence.py);
last, each model of experiments.py at its CPU settings (bench_budget.py).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import (bench_blend, bench_budget, bench_paste, bench_pipeline, bench_preprocess,  # noqa: E402
                   bench_search, bench_sequence, bench_train)
from model import ModelConfig, train_step_flops  # noqa: E402
from paper.report import machine  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny widths and counts")
    p.add_argument("--output_size", type=int, default=64, help="model size in pixels")
    p.add_argument("--batch_size", type=int, default=64, help="faces per training step")
    return p.parse_args(argv)


def time_encoder(size, batch, width, repeats=3):
    """Seconds for the learned initialiser's forward pass on a batch (compiled)."""
    import time

    import numpy as np
    from core.tfstart import tf

    from inpainting.encoder import Encoder, EncoderConfig
    encoder = Encoder(EncoderConfig(output_size=size, ef_dim=width))
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)), tf.float32)
    masks = tf.ones((batch, size, size, 1))
    forward = tf.function(lambda x, m: encoder(x, m, x))
    forward(images, masks).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        forward(images, masks).numpy()
    return (time.perf_counter() - start) / repeats


def main(args):
    width = 16 if args.quick else 64
    size, batch = args.output_size, args.batch_size
    config = ModelConfig(output_size=size, gf_dim=width, df_dim=width)
    peak = bench_train.matmul_peak()
    rows = []
    plain = None
    for variant, shortcut in (("plain", False), ("tiled-z shortcut", True)):
        seconds = bench_train.time_train_step(config, batch, 1 if args.quick else 2, False, shortcut)
        plain = plain or seconds
        flops = train_step_flops(config, batch, shortcut)
        rows.append((f"train step, {variant}", f"{seconds:.2f} s", f"floor {flops / peak / 1e9:.2f} s",
                     f"{100 * flops / peak / 1e9 / seconds:.0f}% of peak, {plain / seconds:.2f}x vs plain"))
    _, search_rows = bench_search.measure(size, batch, width, width, 2 if args.quick else 3, peak)
    for row in search_rows:
        floor = row["flops"] / peak / 1e9
        rows.append((f"z-iteration, {row['variant']}", f"{row['seconds']:.3f} s", f"floor {floor:.3f} s",
                     f"{100 * floor / row['seconds']:.0f}% of peak, "
                     f"{search_rows[0]['seconds'] / row['seconds']:.2f}x vs plain"))
    encoder_seconds = time_encoder(size, batch, width)
    shortcut_iteration = search_rows[1]["seconds"]
    rows.append(("encoder start (one forward pass)", f"{encoder_seconds:.3f} s",
                 f"1500 z-its {1500 * shortcut_iteration:.0f} s",
                 f"{1500 * shortcut_iteration / encoder_seconds:.0f}x less than 1500 iterations"))
    images = 8 if args.quick else 64
    for mask_type, fast, slow, ratio, diff in bench_blend.measure(images, 128, 1 if args.quick else 4):
        rows.append((f"Poisson blend {images}x128px, {mask_type}", f"{fast:.3f} s", f"loop {slow:.1f} s",
                     f"{ratio:.0f}x, max diff {diff:.0e}"))
    for what, count, seconds, rate, *_ in bench_preprocess.measure(8 if args.quick else 96, 40 if args.quick else 800):
        rows.append((what, f"{rate:.1f} /s", f"{count} in {seconds:.1f} s", ""))
    pipeline = bench_pipeline.measure(64 if args.quick else 1024, 1 if args.quick else 3, batch)
    for model_size, records_size, how, rate, per_core in pipeline:
        rows.append((f"input pipeline {model_size} px from {records_size} px records, {how}", f"{rate:.0f} /s",
                     f"{per_core:.0f} /s per core", ""))
    for frame, kind, pixels, copy, blend in bench_paste.rows(bench_paste.parse_args(["--repeats", "3"])):
        rows.append((f"paste a 64-px fill into {frame}, {kind} hole ({pixels} px)", f"{blend:.0f} ms",
                     f"copy {copy:.0f} ms", "blend at full resolution"))
    for frame_size, decode, faces, finish, _ in bench_sequence.video_rows(4 if args.quick else 16, size):
        rows.append((f"video {frame_size}: decode, dlib, blend and paste", f"{1e3 * (decode + faces + finish):.0f} ms",
                     f"dlib {1e3 * faces:.0f} ms", "per frame, before the search"))
    demo = bench_budget.parse_args(["--steps", "2" if args.quick else "20"])  # experiments.py's settings
    for r in bench_budget.measure(demo, peak)[1]:
        for what, seconds, floor in (("train step", r["train_step_s"], r["train_floor_s"]),
                                     (f"search step x{demo.search_batch}", r["search_step_s"], r["search_floor_s"])):
            rows.append((f"demo {what}, {r['model']}", f"{1000 * seconds:.1f} ms", f"floor {1000 * floor:.1f} ms",
                         f"{100 * floor / seconds:.0f}% of peak"))

    print("floors: executed FLOPs at the measured matmul peak (the shortcut executes fewer)")
    print(f"\nmachine: {machine()}, float32 matmul peak {peak:.0f} GFLOP/s; "
          f"networks at gf_dim = df_dim = {width}, {size}x{size}, batch {batch}")
    print(f"| {'what':52s} | {'measured':>10s} | {'floor / baseline':>18s} | {'ratio':30s} |")
    print(f"|{'-' * 54}|{'-' * 12}|{'-' * 20}|{'-' * 32}|")
    for what, measured, reference, ratio in rows:
        print(f"| {what:52s} | {measured:>10s} | {reference:>18s} | {ratio:30s} |")
    return rows


if __name__ == "__main__":
    main(parse_args())
