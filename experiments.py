"""Reproduce the paper's claims end to end: conditioned vs unconditioned GAN, same budget.

    python experiments.py                      # synthetic faces, CPU-sized (about 12.5 minutes on 2 cores)
    python experiments.py --train_records data/train_records --test_dir data/test_images \\
        --output_size 128 --gf_dim 64 --df_dim 64 --batch_size 64 --train_steps 30000 --nIter 1500  # CelebA, GPU

Makes synthetic train and test faces (unless given records / test pairs), trains a
keypoint-conditioned and an unconditioned model with identical seeds and budgets, runs the
correctness experiment on the paper's four masks and the consistency experiment, and writes
results/: results.md (the table in the paper's layout), results.json, sample grids,
completions, GIFs and the two pose/appearance figures. Re-running resumes finished training.
"""
import argparse
import json
import os
import shutil
import time

import numpy as np

import complete
import main as train_main
import masks as mask_lib
import temporal
from utils import atomic_path, run_cli, save_json

METHODS = (("unconditioned", "DIP (unconditioned GAN)", False),
           ("conditioned", "keypoint-conditioned", True))
PAPER_TABLE = {  # CelebA PSNR (dB), the paper's results image
    64: {"unconditioned": (24.96, 18.51, 17.13, 24.53), "conditioned": (26.32, 19.97, 18.42, 25.86)},
    128: {"unconditioned": (23.91, 18.36, 17.23, 23.72), "conditioned": (24.84, 19.12, 18.21, 24.68)},
}
MASK_TITLES = {"center": "center", "checkboard": "checkboard", "left": "left", "freehand_poly": "freehand"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--results", default="results")
    p.add_argument("--train_records", default=None, help="use these records instead of synthetic faces")
    p.add_argument("--test_dir", default=None, help="use these test pairs instead of synthetic faces")
    p.add_argument("--train_faces", type=int, default=3000, help="synthetic training faces")
    p.add_argument("--test_faces", type=int, default=64, help="synthetic test faces")
    p.add_argument("--output_size", type=int, default=32)
    p.add_argument("--gf_dim", type=int, default=16)
    p.add_argument("--df_dim", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--train_steps", type=int, default=3000)
    p.add_argument("--nIter", type=int, default=200, help="latent-search steps per batch")
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--masks", default=",".join(mask_lib.PAPER_MASKS))
    p.add_argument("--temporal_mask", default="center", help="mask type of the consistency experiment")
    p.add_argument("--temporal_subjects", type=int, default=16)
    p.add_argument("--encoder_study", action="store_true",
                   help="also train the learned initialiser and compare random vs encoder starts (~15 min more)")
    p.add_argument("--encoder_steps", type=int, default=1500)
    p.add_argument("--milestones", default="0,10,20,50,100,150,300,600,1000,1500",
                   help="search steps at which the encoder study measures PSNR")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


class Progress:
    """Stages with rough relative costs; prints elapsed time and an estimate of what is left,
    rescaled by how long the finished stages really took."""

    def __init__(self, stages):
        self.stages, self.done, self.start = stages, 0, time.perf_counter()
        self.spent_units = 0.0

    def begin(self, name):
        elapsed = time.perf_counter() - self.start
        total_units = sum(cost for _, cost in self.stages)
        left = ""
        if self.spent_units:
            rate = elapsed / self.spent_units
            left = f", about {rate * (total_units - self.spent_units) / 60:.1f} min left"
        print(f"\n=== [{self.done + 1}/{len(self.stages)}] {name} ({elapsed / 60:.1f} min elapsed{left})", flush=True)

    def end(self):
        self.spent_units += self.stages[self.done][1]
        self.done += 1


def train_args(args, key, conditional, records):
    run = os.path.join(args.results, "runs", key)
    return train_main.parse_args([
        "--train_records", records, "--output_size", str(args.output_size), "--gf_dim", str(args.gf_dim),
        "--df_dim", str(args.df_dim), "--batch_size", str(args.batch_size), "--max_steps", str(args.train_steps),
        "--epoch", "100000", "--conditional", str(conditional), "--seed", str(args.seed),
        "--checkpoint_dir", os.path.join(run, "checkpoints"), "--sample_dir", os.path.join(run, "samples"),
        "--log_dir", os.path.join(run, "logs"), "--sampleInterval", str(max(1, args.train_steps // 4)),
        "--saveInterval", str(max(1, args.train_steps // 4)), "--print_every", str(max(1, args.train_steps // 10))])


def search_argv(args, key, test_dir, out_dir):
    return ["--checkpoint_dir", os.path.join(args.results, "runs", key, "checkpoints"), "--test_dir", test_dir,
            "--outDir", out_dir, "--nIter", str(args.nIter), "--outInterval", str(max(1, args.nIter // 3)),
            "--batch_size", str(args.batch_size), "--lam", str(args.lam), "--seed", str(args.seed)]


def make_data(args):
    import preprocess
    import preprocess_test_images
    import preprocess_train_images
    data = os.path.join(args.results, "data")
    records = args.train_records or os.path.join(data, "train_records")
    test_dir = args.test_dir or os.path.join(data, "test_images")
    size = str(max(64, args.output_size))
    if not args.train_records:
        preprocess.run(preprocess_train_images.parse_args(
            ["--synthetic", str(args.train_faces), "--size", size, "--seed", str(args.seed), "--output_dir", records]),
            preprocess.write_train_records)
    if not args.test_dir:
        preprocess.run(preprocess_test_images.parse_args(
            ["--synthetic", str(args.test_faces), "--size", size, "--seed", str(args.seed + 1), "--output_dir", test_dir]),
            preprocess.write_test_pairs)
    return records, test_dir


def mean_face_baseline(records_dir, test_dir, size, mask_types, limit=None):
    """PSNR of filling each hole with the mean training face (no GAN), before / after
    blending: the floor a GAN must beat. Returns {mask: (before, after)}."""
    import dataset
    from blend import poisson_blend
    from inpaint import composite, psnr
    images, _, _ = dataset.load_test_pairs(test_dir, size, limit)
    mean = np.repeat(dataset.mean_face(records_dir, size)[None], len(images), axis=0)
    out = {}
    for m in mask_types:
        masks = np.repeat(mask_lib.make_mask(m, size)[None], len(images), axis=0)
        out[m] = (float(psnr(composite(images, mean, masks), images).mean()),
                  float(psnr(poisson_blend(images, mean, masks), images).mean()))
    return out


def psnr_curve(args, key, test_dir, mask_type, z_init, milestones):
    """Mean PSNR after blending at each milestone of one search run: {steps: dB}."""
    from blend import poisson_blend
    from inpaint import load_model, pad_batch, psnr
    a = complete.parse_args(search_argv(args, key, test_dir, "unused") + ["--maskType", mask_type, "--z_init", z_init])
    gan = load_model(a.checkpoint_dir)
    size = gan.config.output_size
    images, maps, _ = complete.prepare_test_data(a, size)
    mask = mask_lib.make_mask(mask_type, size)
    search, start_z = complete.make_search(gan, a), complete.make_z_init(a, gan)
    values = {n: [] for n in milestones}
    for first in range(0, len(images), a.batch_size):
        x, k = images[first:first + a.batch_size], maps[first:first + a.batch_size]
        m = np.repeat(mask[None], len(x), axis=0)
        xp, count = pad_batch(x, a.batch_size)
        kp, mp = pad_batch(k, a.batch_size)[0], pad_batch(m[..., None], a.batch_size)[0]
        search.start(None if start_z is None else pad_batch(start_z(x, m, k), a.batch_size)[0])
        done = 0
        for n in milestones:
            generated = search.run(xp, kp, mp, n - done)[3][:count]
            done = n
            values[n].extend(psnr(poisson_blend(x, generated, m), x))
    return {n: float(np.mean(v)) for n, v in values.items()}


def encoder_study(args, records, test_dir):
    """Random vs encoder start for the conditioned model: PSNR curves per mask, the steps the
    encoder start needs to reach the random start's final PSNR, and consistency."""
    import train_encoder
    ckpt = os.path.join(args.results, "runs", "conditioned", "checkpoints")
    start = time.perf_counter()
    train_encoder.main(train_encoder.parse_args(["--checkpoint_dir", ckpt, "--train_records", records,
                                                 "--steps", str(args.encoder_steps), "--batch_size",
                                                 str(args.batch_size), "--seed", str(args.seed),
                                                 "--print_every", str(max(1, args.encoder_steps // 5))]))
    encoder_seconds = time.perf_counter() - start
    milestones = sorted(int(n) for n in args.milestones.split(","))
    study = {"milestones": milestones, "encoder_training_seconds": encoder_seconds, "masks": {}}
    for m in args.masks.split(","):
        curves = {z: psnr_curve(args, "conditioned", test_dir, m, z, milestones) for z in ("random", "encoder")}
        target = curves["random"][milestones[-1]]
        reached = [n for n in milestones if curves["encoder"][n] >= target]
        caught_up = [n for n in milestones if curves["random"][n] >= curves["encoder"][milestones[0]]]
        study["masks"][m] = {"curves": curves, "random_final": target,
                             "random_steps_to_match_encoder_0": caught_up[0] if caught_up else None,
                             "encoder_steps_to_match": reached[0] if reached else None,
                             "speedup": (milestones[-1] / max(reached[0], 1)) if reached else None}
        print(f"{m}: random start {target:.2f} dB at {milestones[-1]} steps; encoder start "
              + ", ".join(f"{n}: {curves['encoder'][n]:.2f}" for n in milestones), flush=True)
    for z_init, steps in (("random", args.nIter), ("encoder", args.nIter), ("encoder", 0)):
        out = os.path.join(args.results, "consistency", f"conditioned_{z_init}_{steps}")
        argv = search_argv(args, "conditioned", test_dir, out)
        argv[argv.index("--nIter") + 1] = str(steps)
        summary = temporal.run_experiment(temporal.parse_args(
            argv + ["--maskType", args.temporal_mask, "--limit", str(args.temporal_subjects), "--z_init", z_init]))
        summary.pop("images", None)
        study[f"consistency_{z_init}_{steps}"] = summary
    return study


def encoder_table(args, study):
    milestones = study["milestones"]
    lines = ["", f"## Learned initialiser (conditioned model; encoder trained {args.encoder_steps} steps, "
             f"{study['encoder_training_seconds'] / 60:.1f} min)", "",
             "PSNR after blending (dB) after N search steps, random start / encoder start:", "",
             "| mask | " + " | ".join(f"N={n}" for n in milestones) + " | encoder steps to match random@"
             f"{milestones[-1]} | random steps to match encoder@0 |", "|---|" + "---|" * (len(milestones) + 2)]
    for m, r in study["masks"].items():
        cells = [f"{r['curves']['random'][n]:.2f} / {r['curves']['encoder'][n]:.2f}" for n in milestones]
        match = "not reached" if r["encoder_steps_to_match"] is None else \
            f"{r['encoder_steps_to_match']} ({r['speedup']:.1f}x fewer)"
        feed_forward = r["random_steps_to_match_encoder_0"]
        feed_forward = f">{milestones[-1]}" if feed_forward is None else str(feed_forward)
        lines.append(f"| {MASK_TITLES.get(m, m)} | " + " | ".join(cells) + f" | {match} | {feed_forward} |")
    lines += ["", f"Consistency ({args.temporal_mask} masks, pairwise MSE after blending, [0, 1] scale):", ""]
    for key, value in study.items():
        if key.startswith("consistency_"):
            _, z_init, steps = key.split("_")
            lines.append(f"- {z_init} start, {steps} steps: {value['consistency_after_blending']['mean']:.5f} "
                         f"(PSNR {value['psnr_after_blending']['mean']:.2f} dB)")
    return lines


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def write_table(args, results, path, study=None):
    mask_types = args.masks.split(",")
    lines = [f"# Results: {'synthetic faces' if not args.train_records else args.train_records}, "
             f"{args.output_size}x{args.output_size}",
             "",
             f"Settings: {args.train_steps} training steps at batch {args.batch_size}, gf_dim {args.gf_dim}, "
             f"df_dim {args.df_dim}; {args.nIter} latent-search steps (Adam, lam {args.lam}); seed {args.seed}. "
             "PSNR in dB on the [0, 1] scale (before / after Poisson blending); consistency = mean pairwise "
             f"MSE between the {8} inpaintings of one face under random {args.temporal_mask} masks "
             "([0, 1] scale, lower is more consistent).",
             "",
             "| method | " + " | ".join(MASK_TITLES.get(m, m) for m in mask_types)
             + f" | consistency MSE ({args.temporal_mask}) |",
             "|---|" + "---|" * (len(mask_types) + 1)]
    for key, title, _ in METHODS:
        cells = []
        for m in mask_types:
            r = results[key]["completion"][m]
            cells.append(f"{fmt(r['psnr_before_blending']['mean'])} / {fmt(r['psnr_after_blending']['mean'])}")
        t = results[key]["consistency"]
        cells.append(f"{fmt(t['consistency_before_blending']['mean'], 5)} / "
                     f"{fmt(t['consistency_after_blending']['mean'], 5)}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    baseline = results.get("mean_face")
    if baseline:
        lines.append("| mean training face, no GAN | " + " | ".join(
            f"{baseline[m][0]:.2f} / {baseline[m][1]:.2f}" for m in mask_types) + " | |")
    gains = []
    for m in mask_types:
        a = results["conditioned"]["completion"][m]["psnr_after_blending"]["mean"]
        b = results["unconditioned"]["completion"][m]["psnr_after_blending"]["mean"]
        gains.append(f"{a - b:+.2f}")
    lines.append("| gain (after blending) | " + " | ".join(gains) + " | |")
    paper = PAPER_TABLE.get(args.output_size)
    if paper and set(mask_types) >= set(MASK_TITLES):
        lines += ["", f"The paper's CelebA table at {args.output_size}x{args.output_size} (PSNR, dB):", "",
                  "| method | center | checkboard | left | freehand |", "|---|---|---|---|---|"]
        for key, title, _ in METHODS:
            lines.append(f"| {title} | " + " | ".join(f"{v:.2f}" for v in paper[key]) + " |")
    decoupling = results.get("decoupling")
    if decoupling:
        lines += ["", "Pose/appearance decoupling of the conditioned generator over 8 maps x 8 z "
                  "(variance of the one-factor means, [0, 1] scale): appearance (mean colour inside each "
                  "map's face region) "
                  f"{decoupling['appearance_from_z']:.5f} from z vs {decoupling['appearance_from_map']:.5f} "
                  f"from the map; structure (image minus its mean colour) {decoupling['structure_from_map']:.5f} "
                  f"from the map vs {decoupling['structure_from_z']:.5f} from z."]
    if study:
        lines += encoder_table(args, study)
    lines += ["", "Figures: `figures/sample_<method>.png` (training samples), `figures/same_k_diff_z.png`, "
              "`figures/same_z_diff_k.png`; completions in `completions/<method>/<mask>/`, consistency GIFs "
              "in `consistency/<method>/`."]
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def run(args):
    mask_types = args.masks.split(",")
    stages = [("data", 1)] + [(f"train {key}", 10) for key, _, _ in METHODS] \
        + [(f"complete {key} {m}", 2) for key, _, _ in METHODS for m in mask_types] \
        + [(f"consistency {key}", 2) for key, _, _ in METHODS] \
        + ([("encoder study", 30)] if args.encoder_study else []) + [("figures and table", 0.2)]
    progress = Progress(stages)
    os.makedirs(args.results, exist_ok=True)
    results = {key: {"completion": {}} for key, _, _ in METHODS}

    progress.begin("synthetic data" if not (args.train_records and args.test_dir) else "data")
    records, test_dir = make_data(args)
    progress.end()
    for key, title, conditional in METHODS:
        progress.begin(f"training the {title} model")
        train_main.main(train_args(args, key, conditional, records))
        progress.end()
    for key, title, _ in METHODS:
        for m in mask_types:
            progress.begin(f"{title}: inpainting the test faces, {m} mask")
            out = os.path.join(args.results, "completions", key, m)
            results[key]["completion"][m] = complete.run_experiment(
                complete.parse_args(search_argv(args, key, test_dir, out) + ["--maskType", m]))
            progress.end()
    for key, title, _ in METHODS:
        progress.begin(f"{title}: consistency under 8 {args.temporal_mask} masks per face")
        out = os.path.join(args.results, "consistency", key)
        results[key]["consistency"] = temporal.run_experiment(temporal.parse_args(
            search_argv(args, key, test_dir, out) + ["--maskType", args.temporal_mask,
                                                     "--limit", str(args.temporal_subjects)]))
        progress.end()

    study = None
    if args.encoder_study:
        progress.begin("learned initialiser: training it, then random vs encoder starts")
        study = encoder_study(args, records, test_dir)
        progress.end()

    progress.begin("figures and table")
    figures = os.path.join(args.results, "figures")
    os.makedirs(figures, exist_ok=True)
    for key, _, _ in METHODS:
        samples = os.path.join(args.results, "runs", key, "samples", "celebA", f"sample_{args.train_steps}.png")
        if os.path.exists(samples):
            shutil.copyfile(samples, os.path.join(figures, f"sample_{key}.png"))
    vis = train_args(args, "conditioned", True, records)
    vis.visualize, vis.sample_dir, vis.dataset = True, figures, ""
    train_main.visualize(vis)
    with open(os.path.join(figures, "decoupling.json")) as f:
        results["decoupling"] = json.load(f)
    results["mean_face"] = mean_face_baseline(records, test_dir, args.output_size, mask_types)
    for key, _, _ in METHODS:
        for summary in list(results[key]["completion"].values()) + [results[key]["consistency"]]:
            summary.pop("images", None)
    save_json(os.path.join(args.results, "results.json"),
              {"settings": vars(args), "results": results, "encoder_study": study})
    table = write_table(args, results, os.path.join(args.results, "results.md"), study)
    progress.end()
    print("\n" + table)
    print(f"\nall done in {(time.perf_counter() - progress.start) / 60:.1f} min; see {args.results}/results.md")
    return results


def main(args):
    return run(args)


if __name__ == "__main__":
    run_cli(main, parse_args)
