"""Reproduce the paper's comparison end to end on one budget: the keypoint-conditioned
model against the authors' own DIP baseline, with error bars.

    python experiments.py                      # synthetic faces, CPU-sized (see README for minutes)
    python experiments.py --seed 1 --seeds 3   # other data, three training seeds per method
    python experiments.py --train_records data/train_records --test_dir data/test_images \\
        --output_size 64 --gf_dim 64 --df_dim 64 --batch_size 64 --train_steps 50000 --nIter 1500 \\
        --test_faces 2560 --search_batch 64 --seeds 3                                         # CelebA, GPU

Makes synthetic train and test faces (unless given records / test pairs); trains, with the
same steps, batch, learning rate and seeds, the keypoint-conditioned ECGAN, the authors'
DCGAN (the paper's DIP row) and the ECGAN without its map (an ablation); runs the
correctness experiment on the paper's four masks and the consistency experiment for each;
fills the same holes with the mean training face; and writes results/: results.md (PSNR
with 95% bootstrap intervals over test faces, paired gains, consistency), results.json,
sample grids, completions, GIFs and the pose/appearance figures. Re-running reuses the
data and finished training runs.
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
import report
import temporal
from utils import UserError, atomic_path, run_cli, save_json

METHODS = (  # key, title, arch, conditional
    ("conditioned", "keypoint-conditioned ECGAN (the paper's model)", "ecgan", True),
    ("dip", "DIP: the authors' DCGAN", "dcgan", False),
    ("ablation", "ECGAN without its map (ablation)", "ecgan", False),
)
MEAN_FACE = ("mean_face", "mean training face, no GAN")
PAPER_TABLE = {  # CelebA PSNR (dB), the paper's results image
    64: {"dip": (24.96, 18.51, 17.13, 24.53), "conditioned": (26.32, 19.97, 18.42, 25.86)},
    128: {"dip": (23.91, 18.36, 17.23, 23.72), "conditioned": (24.84, 19.12, 18.21, 24.68)},
}
MASK_TITLES = {"center": "center", "checkboard": "checkboard", "left": "left", "freehand_poly": "freehand"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--results", default="results")
    p.add_argument("--train_records", default=None, help="use these records instead of synthetic faces")
    p.add_argument("--test_dir", default=None, help="use these test pairs instead of synthetic faces")
    p.add_argument("--train_faces", type=int, default=12000,
                   help="synthetic training faces; with few, each map names one face and G learns its "
                        "appearance from the map instead of from z")
    p.add_argument("--test_faces", type=int, default=256,
                   help="synthetic test faces to make, or the first N pairs of --test_dir to use")
    p.add_argument("--output_size", type=int, default=32)
    p.add_argument("--gf_dim", type=int, default=8)
    p.add_argument("--df_dim", type=int, default=16,
                   help="2 x gf_dim: at 32x32 D has one conv fewer than at 64, and twice G's width restores "
                        "the paper's G:D parameter ratio (D at gf_dim's width stalls at chance)")
    p.add_argument("--batch_size", type=int, default=32, help="training batch")
    p.add_argument("--train_steps", type=int, default=1500)
    p.add_argument("--learning_rate", type=float, default=0.0002)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--nIter", type=int, default=75, help="latent-search steps per image")
    p.add_argument("--search_batch", type=int, default=256,
                   help="images per latent-search batch (each image's search is independent)")
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--masks", default=",".join(mask_lib.PAPER_MASKS))
    p.add_argument("--temporal_mask", default="center", help="mask type of the consistency experiment")
    p.add_argument("--temporal_subjects", type=int, default=32)
    p.add_argument("--encoder_study", action="store_true",
                   help="also train the learned initialiser and compare random vs encoder starts")
    p.add_argument("--encoder_steps", type=int, default=1500)
    p.add_argument("--milestones", default="0,10,20,50,100,150,300,600,1000,1500",
                   help="search steps at which the encoder study measures PSNR")
    p.add_argument("--seed", type=int, default=0, help="data seed (train faces; test faces use seed + 1) "
                   "and the first training seed")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per method: seed, seed + 1, ...")
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


def run_dir(args, key, seed):
    return os.path.join(args.results, "runs", key, f"seed{seed}")


def train_args(args, key, arch, conditional, seed, records):
    run = run_dir(args, key, seed)
    interval = str(max(1, args.train_steps // 4))
    return train_main.parse_args([
        "--train_records", records, "--output_size", str(args.output_size), "--gf_dim", str(args.gf_dim),
        "--df_dim", str(args.df_dim), "--batch_size", str(args.batch_size), "--max_steps", str(args.train_steps),
        "--learning_rate", str(args.learning_rate), "--beta1", str(args.beta1),
        "--epoch", "100000", "--arch", arch, "--conditional", str(conditional), "--seed", str(seed),
        "--checkpoint_dir", os.path.join(run, "checkpoints"), "--sample_dir", os.path.join(run, "samples"),
        "--log_dir", os.path.join(run, "logs"), "--sampleInterval", interval, "--saveInterval", interval,
        "--print_every", str(max(1, args.train_steps // 10))])


def search_argv(args, key, seed, test_dir, out_dir):
    return ["--checkpoint_dir", os.path.join(run_dir(args, key, seed), "checkpoints"), "--test_dir", test_dir,
            "--outDir", out_dir, "--nIter", str(args.nIter), "--outInterval", str(args.nIter),
            "--batch_size", str(args.search_batch), "--lam", str(args.lam), "--seed", str(seed),
            "--limit", str(args.test_faces)]


def make_data(args):
    import preprocess
    import preprocess_test_images
    import preprocess_train_images
    data = os.path.join(args.results, "data")
    records = args.train_records or os.path.join(data, "train_records")
    test_dir = args.test_dir or os.path.join(data, "test_images")
    size = str(args.output_size)  # rendered at the model's size: no resize, and faster
    jobs = []
    if not args.train_records:
        jobs.append((records, preprocess_train_images, args.train_faces, args.seed, preprocess.write_train_records))
    if not args.test_dir:
        jobs.append((test_dir, preprocess_test_images, args.test_faces, args.seed + 1, preprocess.write_test_pairs))
    for out, script, count, seed, write in jobs:
        try:
            preprocess.run(script.parse_args(["--synthetic", str(count), "--size", size, "--seed", str(seed),
                                              "--output_dir", out]), write)
        except preprocess.OtherInputs:
            raise UserError(f"{out} holds faces made with other settings (an earlier run?): pass another "
                            "--results folder, or delete that one") from None
    return records, test_dir



def mean_face_baseline(records_dir, test_dir, size, mask_types, limit=None):
    """Per-face PSNR of filling each hole with the mean training face (no GAN): the floor a
    GAN must beat. Returns {"before": {mask: array}, "after": {mask: array}}."""
    import dataset
    from blend import poisson_blend
    from inpaint import composite, psnr
    images, _, _ = dataset.load_test_pairs(test_dir, size, limit)
    mean = np.repeat(dataset.mean_face(records_dir, size)[None], len(images), axis=0)
    out = {"before": {}, "after": {}}
    for m in mask_types:
        masks = np.repeat(mask_lib.make_mask(m, size)[None], len(images), axis=0)
        out["before"][m] = psnr(composite(images, mean, masks), images)
        out["after"][m] = psnr(poisson_blend(images, mean, masks), images)
    return out


def psnr_curve(args, key, test_dir, mask_type, z_init, milestones):
    """Mean PSNR after blending at each milestone of one search run: {steps: dB}."""
    from blend import poisson_blend
    from inpaint import load_model, pad_batch, psnr
    a = complete.parse_args(search_argv(args, key, args.seed, test_dir, "unused")
                            + ["--maskType", mask_type, "--z_init", z_init])
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
    ckpt = os.path.join(run_dir(args, "conditioned", args.seed), "checkpoints")
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
        argv = search_argv(args, "conditioned", args.seed, test_dir, out)
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


PHASES = (("after", "psnr_after.npy", "after Poisson blending"), ("before", "psnr_before.npy", "before blending"))


def collect(args, mask_types):
    """Per-unit arrays of every method, averaged over seeds, and the per-seed means:
    psnr[phase][key][mask] over faces; consistency[phase][key] over subjects (each subject's
    mean over its pairs), in units of 1e-3."""
    psnr = {phase: {key: {} for key, *_ in METHODS} for phase, *_ in PHASES}
    per_seed = {phase: {key: {} for key, *_ in METHODS} for phase, *_ in PHASES}
    consistency = {phase: {} for phase, *_ in PHASES}
    seeds = range(args.seed, args.seed + args.seeds)
    for key, *_ in METHODS:
        for phase, npy, _ in PHASES:
            for m in mask_types:
                runs = [np.load(os.path.join(args.results, "completions", key, f"seed{s}", m, npy)) for s in seeds]
                psnr[phase][key][m] = np.mean(runs, axis=0)
                per_seed[phase][key][m] = [float(r.mean()) for r in runs]
            runs = [np.load(os.path.join(args.results, "consistency", key, f"seed{s}", f"consistency_{phase}.npy"))
                    for s in seeds]
            consistency[phase][key] = 1e3 * np.mean(runs, axis=0).mean(axis=1)
    return psnr, per_seed, consistency


def summarise(args, mask_types, psnr, per_seed, consistency):
    """The JSON form of the comparison: every mean with its interval and seed spread, every gain."""
    out = {}
    for phase, *_ in PHASES:
        for key, *_ in METHODS + (MEAN_FACE,):
            for m in mask_types:
                i = report.mean_interval(psnr[phase][key][m])
                out.setdefault(phase, {}).setdefault(key, {})[m] = {
                    "mean": i.value, "ci95": [i.low, i.high], "per_seed_means": per_seed[phase].get(key, {}).get(m)}
        for key, *_ in METHODS[1:] + (MEAN_FACE,):
            for m in mask_types:
                g = report.difference_interval(psnr[phase]["conditioned"][m], psnr[phase][key][m])
                out.setdefault(f"gain_{phase}", {}).setdefault(key, {})[m] = {
                    "mean": g.value, "ci95": [g.low, g.high], "significant": g.significant}
        for key, *_ in METHODS:
            i = report.mean_interval(consistency[phase][key])
            out.setdefault(f"consistency_{phase}", {})[key] = {"mean_1e-3": i.value, "ci95": [i.low, i.high]}
    return out


def write_table(args, path, psnr, per_seed, consistency, minutes, decoupling=None, study=None):
    mask_types = args.masks.split(",")
    titles = {m: MASK_TITLES.get(m, m) for m in mask_types}
    methods = [(key, title) for key, title, *_ in METHODS] + [MEAN_FACE]
    faces = len(psnr["after"]["conditioned"][mask_types[0]])
    subjects = len(consistency["after"]["conditioned"])
    lines = [f"# Results: {'synthetic faces' if not args.train_records else args.train_records}, "
             f"{args.output_size}x{args.output_size}", "",
             f"Settings: {args.train_steps} training steps at batch {args.batch_size} (Adam {args.learning_rate}, "
             f"beta1 {args.beta1}), gf_dim {args.gf_dim}, df_dim {args.df_dim}, for every model; {args.nIter} "
             f"latent-search steps per image (Adam, lam {args.lam}); data seed {args.seed}, training seeds "
             f"{args.seed}..{args.seed + args.seeds - 1}; {faces} test faces, {subjects} consistency subjects.",
             "", f"Ran in {minutes:.1f} min on {report.machine()}.", "",
             f"PSNR in dB on the [0, 1] scale: mean [95% bootstrap interval over the {faces} test faces]. "
             "Gains are paired differences on the same faces; * marks an interval that excludes zero."]
    others = [(key, title) for key, title, *_ in METHODS[1:]] + [MEAN_FACE]
    for phase, _, words in PHASES:
        lines += [""] + report.psnr_table(f"## PSNR {words}", methods, mask_types, psnr[phase], titles)
        lines += [""] + report.gain_table(f"### Gains {words} (dB)", "conditioned", others, mask_types,
                                          psnr[phase], titles)
    lines += ["", f"## Consistency ({args.temporal_mask} masks)", "",
              f"Mean pairwise MSE between the 8 inpaintings of one face under random {args.temporal_mask} masks, "
              f"x 1e-3 on the [0, 1] scale (lower is more consistent): mean [95% interval over {subjects} subjects]; "
              "the ratio is the method's MSE over the conditioned model's.", "",
              "| method | before blending | after blending | ratio before | ratio after |", "|---|---|---|---|---|"]
    for key, title, *_ in METHODS:
        cells = [report.mean_interval(consistency[p][key]).fmt(3) for p in ("before", "after")]
        ratios = ["1" if key == "conditioned" else
                  report.ratio_interval(consistency[p][key], consistency[p]["conditioned"]).fmt(2)
                  for p in ("before", "after")]
        lines.append(f"| {title} | " + " | ".join(cells + ratios) + " |")
    if args.seeds > 1:
        lines += ["", f"## Spread over the {args.seeds} training seeds (mean PSNR after blending: mean +- sd)", "",
                  "| method | " + " | ".join(titles.values()) + " |", "|---|" + "---|" * len(mask_types)]
        for key, title, *_ in METHODS:
            lines.append(f"| {title} | " + " | ".join(report.seed_spread(per_seed["after"][key][m])
                                                     for m in mask_types) + " |")
    paper = PAPER_TABLE.get(args.output_size)
    if paper and set(mask_types) >= set(MASK_TITLES):
        lines += ["", f"The paper's CelebA table at {args.output_size}x{args.output_size} (PSNR, dB):", "",
                  "| method | center | checkboard | left | freehand |", "|---|---|---|---|---|"]
        for key, title, *_ in METHODS:
            if key in paper:
                lines.append(f"| {title} | " + " | ".join(f"{v:.2f}" for v in paper[key]) + " |")
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
              "`figures/same_z_diff_k.png`; completions in `completions/<method>/seed<s>/<mask>/`, consistency "
              "GIFs in `consistency/<method>/seed<s>/`."]
    text = "\n".join(lines) + "\n"
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
    return text


def check_args(args):
    """One clear line for settings the experiments cannot run with, before any work."""
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: train at least one seed per method")
    if args.search_batch < 8 or args.search_batch % 8:
        raise UserError(f"--search_batch {args.search_batch} must be a multiple of 8: the consistency "
                        "experiment searches 8 masks of each face in one batch")
    unknown = [m for m in args.masks.split(",") if m not in mask_lib.MASK_TYPES]
    if unknown:
        raise UserError(f"--masks: unknown mask type {unknown[0]}; use some of {', '.join(mask_lib.MASK_TYPES)}")


def run(args):
    check_args(args)
    mask_types = args.masks.split(",")
    seeds = list(range(args.seed, args.seed + args.seeds))
    stages = [("data", 1)] + [(f"train {key} {s}", 10 if arch == "ecgan" else 3) for key, _, arch, _ in METHODS
                              for s in seeds] \
        + [(f"search {key} {s}", 8 if arch == "ecgan" else 2) for key, _, arch, _ in METHODS for s in seeds] \
        + ([("encoder study", 30)] if args.encoder_study else []) + [("figures and table", 1)]
    progress = Progress(stages)
    os.makedirs(args.results, exist_ok=True)

    progress.begin("synthetic data" if not (args.train_records and args.test_dir) else "data")
    records, test_dir = make_data(args)
    progress.end()
    for key, title, arch, conditional in METHODS:
        for seed in seeds:
            progress.begin(f"training {title}, seed {seed}")
            train_main.main(train_args(args, key, arch, conditional, seed, records))
            progress.end()
    from inpaint import load_model
    for key, title, _, _ in METHODS:
        for seed in seeds:
            progress.begin(f"{title}, seed {seed}: inpainting the test faces ({', '.join(mask_types)}) and "
                           f"consistency under 8 {args.temporal_mask} masks per face")
            gan = load_model(os.path.join(run_dir(args, key, seed), "checkpoints"))
            search = None  # one compiled search serves every experiment of this model
            for m in mask_types:
                out = os.path.join(args.results, "completions", key, f"seed{seed}", m)
                a = complete.parse_args(search_argv(args, key, seed, test_dir, out) + ["--maskType", m])
                search = search or complete.make_search(gan, a)
                complete.run_experiment(a, gan, search)
            out = os.path.join(args.results, "consistency", key, f"seed{seed}")
            argv = search_argv(args, key, seed, test_dir, out)
            argv[argv.index("--limit") + 1] = str(args.temporal_subjects)
            temporal.run_experiment(temporal.parse_args(argv + ["--maskType", args.temporal_mask]), gan,
                                    search=search)
            progress.end()

    study = None
    if args.encoder_study:
        progress.begin("learned initialiser: training it, then random vs encoder starts")
        study = encoder_study(args, records, test_dir)
        progress.end()

    progress.begin("figures and table")
    figures = os.path.join(args.results, "figures")
    os.makedirs(figures, exist_ok=True)
    for key, *_ in METHODS:
        samples = os.path.join(run_dir(args, key, args.seed), "samples", "celebA", f"sample_{args.train_steps}.png")
        if os.path.exists(samples):
            shutil.copyfile(samples, os.path.join(figures, f"sample_{key}.png"))
    vis = train_args(args, "conditioned", "ecgan", True, args.seed, records)
    vis.visualize, vis.sample_dir, vis.dataset = True, figures, ""
    train_main.visualize(vis)
    with open(os.path.join(figures, "decoupling.json")) as f:
        decoupling = json.load(f)
    psnr, per_seed, consistency = collect(args, mask_types)
    mean_face = mean_face_baseline(records, test_dir, args.output_size, mask_types, args.test_faces)
    for phase, *_ in PHASES:
        psnr[phase]["mean_face"] = mean_face[phase]
    minutes = (time.perf_counter() - progress.start) / 60
    summary = summarise(args, mask_types, psnr, per_seed, consistency)
    save_json(os.path.join(args.results, "results.json"),
              {"settings": vars(args), "machine": report.machine(), "minutes": minutes, "results": summary,
               "decoupling": decoupling, "encoder_study": study})
    table = write_table(args, os.path.join(args.results, "results.md"), psnr, per_seed, consistency, minutes,
                        decoupling, study)
    progress.end()
    print("\n" + table)
    print(f"all done in {minutes:.1f} min; see {args.results}/results.md")
    return summary


def main(args):
    return run(args)


if __name__ == "__main__":
    run_cli(main, parse_args)
