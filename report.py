"""The report of experiments.py: results.md (tables with intervals) and results.json.

Reads the per-face .npy files the experiments wrote under the results folder and turns
them into means with 95% bootstrap intervals (stats.py), paired gains of the conditioned
model over each other method, consistency ratios and, with several training seeds, their
spread. `settings` is the run's settings as a dict (experiments.py's flags).
"""
import os
import platform

import numpy as np

from stats import difference_interval, mean_interval, ratio_interval, seed_spread
from utils import atomic_path

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


PHASES = (("after", "psnr_after.npy", "after Poisson blending"), ("before", "psnr_before.npy", "before blending"))


def psnr_table(title, methods, masks, values, mask_titles, digits=2):
    """Markdown rows: one per method, a 'mean [low, high]' cell per mask.
    values[method][mask]: per-unit array."""
    lines = [title, "", "| method | " + " | ".join(mask_titles[m] for m in masks) + " |",
             "|---|" + "---|" * len(masks)]
    for key, name in methods:
        lines.append(f"| {name} | " + " | ".join(mean_interval(values[key][m]).fmt(digits) for m in masks) + " |")
    return lines


def gain_table(title, ours, others, masks, values, mask_titles, digits=2):
    """Markdown rows of paired gains of `ours` over each of `others` ((key, name) pairs),
    a '*' after the significant ones."""
    lines = [title, "", "| gain of the conditioned model over | " + " | ".join(mask_titles[m] for m in masks)
             + " |", "|---|" + "---|" * len(masks)]
    for key, name in others:
        cells = []
        for m in masks:
            gain = difference_interval(values[ours][m], values[key][m])
            cells.append(gain.fmt(digits, signed=True) + (" *" if gain.significant else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def collect(settings, mask_types):
    """Per-unit arrays of every method, averaged over seeds, and the per-seed means:
    psnr[phase][key][mask] over faces; consistency[phase][key] over subjects (each subject's
    mean over its pairs), in units of 1e-3."""
    psnr = {phase: {key: {} for key, *_ in METHODS} for phase, *_ in PHASES}
    per_seed = {phase: {key: {} for key, *_ in METHODS} for phase, *_ in PHASES}
    consistency = {phase: {} for phase, *_ in PHASES}
    seeds = range(settings['seed'], settings['seed'] + settings['seeds'])
    results = settings['results']
    for key, *_ in METHODS:
        for phase, npy, _ in PHASES:
            for m in mask_types:
                runs = [np.load(os.path.join(results, "completions", key, f"seed{s}", m, npy)) for s in seeds]
                psnr[phase][key][m] = np.mean(runs, axis=0)
                per_seed[phase][key][m] = [float(r.mean()) for r in runs]
            runs = [np.load(os.path.join(results, "consistency", key, f"seed{s}", f"consistency_{phase}.npy"))
                    for s in seeds]
            consistency[phase][key] = 1e3 * np.mean(runs, axis=0).mean(axis=1)
    return psnr, per_seed, consistency


def summarise(mask_types, psnr, per_seed, consistency):
    """The JSON form of the comparison: every mean with its interval and seed spread, every gain."""
    out = {}
    for phase, *_ in PHASES:
        for key, *_ in METHODS + (MEAN_FACE,):
            for m in mask_types:
                i = mean_interval(psnr[phase][key][m])
                out.setdefault(phase, {}).setdefault(key, {})[m] = {
                    "mean": i.value, "ci95": [i.low, i.high], "per_seed_means": per_seed[phase].get(key, {}).get(m)}
        for key, *_ in METHODS[1:] + (MEAN_FACE,):
            for m in mask_types:
                g = difference_interval(psnr[phase]["conditioned"][m], psnr[phase][key][m])
                out.setdefault(f"gain_{phase}", {}).setdefault(key, {})[m] = {
                    "mean": g.value, "ci95": [g.low, g.high], "significant": g.significant}
        for key, *_ in METHODS:
            i = mean_interval(consistency[phase][key])
            out.setdefault(f"consistency_{phase}", {})[key] = {"mean_1e-3": i.value, "ci95": [i.low, i.high]}
    return out


def write_table(settings, path, psnr, per_seed, consistency, minutes, decoupling=None, study=None):
    s = settings
    mask_types = s['masks'].split(",")
    titles = {m: MASK_TITLES.get(m, m) for m in mask_types}
    methods = [(key, title) for key, title, *_ in METHODS] + [MEAN_FACE]
    faces = len(psnr["after"]["conditioned"][mask_types[0]])
    subjects = len(consistency["after"]["conditioned"])
    lines = [f"# Results: {'synthetic faces' if not s['train_records'] else s['train_records']}, "
             f"{s['output_size']}x{s['output_size']}", "",
             f"Settings: {s['train_steps']} training steps at batch {s['batch_size']} (Adam {s['learning_rate']}, "
             f"beta1 {s['beta1']}), gf_dim {s['gf_dim']}, df_dim {s['df_dim']}, for every model; {s['nIter']} "
             f"latent-search steps per image (Adam, lam {s['lam']}); data seed {s['seed']}, training seeds "
             f"{s['seed']}..{s['seed'] + s['seeds'] - 1}; {faces} test faces, {subjects} consistency subjects.",
             "", f"Ran in {minutes:.1f} min on {machine()}.", "",
             f"PSNR in dB on the [0, 1] scale: mean [95% bootstrap interval over the {faces} test faces]. "
             "Gains are paired differences on the same faces; * marks an interval that excludes zero."]
    others = [(key, title) for key, title, *_ in METHODS[1:]] + [MEAN_FACE]
    for phase, _, words in PHASES:
        lines += [""] + psnr_table(f"## PSNR {words}", methods, mask_types, psnr[phase], titles)
        lines += [""] + gain_table(f"### Gains {words} (dB)", "conditioned", others, mask_types, psnr[phase],
                                   titles)
    lines += ["", f"## Consistency ({s['temporal_mask']} masks)", "",
              f"Mean pairwise MSE between the 8 inpaintings of one face under random {s['temporal_mask']} masks, "
              f"x 1e-3 on the [0, 1] scale (lower is more consistent): mean [95% interval over {subjects} subjects]; "
              "the ratio is the method's MSE over the conditioned model's.", "",
              "| method | before blending | after blending | ratio before | ratio after |", "|---|---|---|---|---|"]
    for key, title, *_ in METHODS:
        cells = [mean_interval(consistency[p][key]).fmt(3) for p in ("before", "after")]
        ratios = ["1" if key == "conditioned" else
                  ratio_interval(consistency[p][key], consistency[p]["conditioned"]).fmt(2)
                  for p in ("before", "after")]
        lines.append(f"| {title} | " + " | ".join(cells + ratios) + " |")
    if s['seeds'] > 1:
        lines += ["", f"## Spread over the {s['seeds']} training seeds (mean PSNR after blending: mean +- sd)", "",
                  "| method | " + " | ".join(titles.values()) + " |", "|---|" + "---|" * len(mask_types)]
        for key, title, *_ in METHODS:
            lines.append(f"| {title} | " + " | ".join(seed_spread(per_seed["after"][key][m]) for m in mask_types)
                         + " |")
    paper = PAPER_TABLE.get(s['output_size'])
    if paper and set(mask_types) >= set(MASK_TITLES):
        lines += ["", f"The paper's CelebA table at {s['output_size']}x{s['output_size']} (PSNR, dB):", "",
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
        lines += encoder_table(settings, study)
    lines += ["", "Figures: `figures/sample_<method>.png` (training samples), `figures/same_k_diff_z.png`, "
              "`figures/same_z_diff_k.png`; completions in `completions/<method>/seed<s>/<mask>/`, consistency "
              "GIFs in `consistency/<method>/seed<s>/`."]
    text = "\n".join(lines) + "\n"
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
    return text


def encoder_table(settings, study):
    s = settings
    milestones = study["milestones"]
    lines = ["", f"## Learned initialiser (conditioned model; encoder trained {s['encoder_steps']} steps, "
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
    lines += ["", f"Consistency ({s['temporal_mask']} masks, pairwise MSE after blending, [0, 1] scale):", ""]
    for key, value in study.items():
        if key.startswith("consistency_"):
            _, z_init, steps = key.split("_")
            lines.append(f"- {z_init} start, {steps} steps: {value['consistency_after_blending']['mean']:.5f} "
                         f"(PSNR {value['psnr_after_blending']['mean']:.2f} dB)")
    return lines


def machine():
    """'CPU model, N cores, AVX-512 or AVX2 only': what a reported time depends on."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} cores, {vector}"
