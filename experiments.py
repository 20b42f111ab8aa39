"""Reproduce the paper's comparison end to end on one budget: the keypoint-conditioned
model against the authors' own DIP baseline, with error bars.

    python experiments.py                      # synthetic faces, CPU-sized (see README for minutes)
    python experiments.py --seed 1 --seeds 3   # other data, three training seeds per method
    python experiments.py --train_records data/train_records --test_dir data/test_images \\
        --output_size 64 --gf_dim 64 --df_dim 64 --batch_size 64 --train_steps 50000 --nIter 1500 \\
        --test_faces 2560 --search_batch 64 --seeds 3 --jobs 1                                # CelebA, GPU
    python experiments.py --train_records data/train_records --test_dir data/val_images --output_size 64 \
        --gf_dim 16 --df_dim 32 --batch_size 16 --train_steps 8000 --jobs 2 --export models/mine   # real faces, CPU
    python experiments.py --models models/celeba64 --test_dir data/test_images   # the shipped models, no training
    python experiments.py --models models/celeba64 --test_dir data/test_images --keypoint_study \
        --masks center,checkboard,left,freehand_poly,strokes                   # the maps a user can give

Makes synthetic train and test faces (unless given records / test pairs); trains, with the
same steps, batch, learning rate, weight averaging and seeds, the keypoint-conditioned
ECGAN, the authors' DCGAN (the paper's DIP row) and, with --ablation, the ECGAN without its
map; runs the correctness experiment on the paper's four masks and the consistency
experiment for each; fills the same holes with the mean training face; and writes results/:
results.md (PSNR, SSIM and speckle with 95% bootstrap intervals over test faces, paired
gains, consistency), results.json, figures (fills side by side, sample grids,
pose/appearance), completions and GIFs. The runs go side by side in worker processes
(--jobs), each TensorFlow op on one thread, so the numbers do not depend on --jobs or on
the machine's core count. Re-running reuses the data and finished runs.
"""
import argparse
import dataclasses
import subprocess
import sys

from core.configs import MASK_TYPES, ROOT, UPSAMPLINGS, ComparisonConfig, pick
from paper import report
from utils import Progress, UserError, run_cli, str2bool

HELP = {
    "results": "folder of everything the comparison writes",
    "train_records": "use these TFRecords instead of synthetic training faces",
    "test_dir": "use these test pairs instead of synthetic test faces",
    "train_faces": "synthetic training faces to make (fewer and each map names one face: G then ignores z)",
    "test_faces": "synthetic test faces to make, or the first N pairs of --test_dir to use",
    "output_size": "image size of every model (the paper: 64 and 128)",
    "gf_dim": "generator width (the paper: 64)",
    "df_dim": "discriminator width; 2 x gf_dim keeps the paper's G:D parameter ratio at 32x32",
    "batch_size": "training batch", "train_steps": "training steps of every model",
    "upsample": "how the keypoint-conditioned G doubles its resolution: transposed (the paper's stride-2 transposed "
    "convs) or resize (nearest-neighbour x2, then a stride-1 conv: no checkerboard speckle); the DCGAN keeps its "
    "authors' transposed convs", "deconv_kernel": "kernel of the conditioned G's upsampling convs (0: the paper's 5)",
    "learning_rate": "the GANs' Adam learning rate (the paper's)", "beta1": "the GANs' Adam beta1 (the paper's)",
    "ema_decay": "every model is evaluated with this average of its generator's weights (0: its own weights)",
    "nIter": "latent-search steps per image", "search_batch": "images per latent-search batch",
    "lam": "weight of the prior (GAN) loss in the search", "masks": "comma-separated mask types of the "
    "correctness experiment", "temporal_mask": "mask type of the consistency experiment",
    "temporal_subjects": "faces of the consistency experiment (8 masks each)",
    "ablation": "also train and evaluate the ECGAN without its map",
    "encoder_study": "also train the learned initialiser and compare random and encoder starts",
    "keypoint_study": "with --models, instead of the comparison: the conditioned model's fills with the keypoint map "
    "from the clean face (the paper's protocol), from dlib on the damaged face and from the estimate a user gets, "
    "under --masks, with landmark errors (needs test pairs made from photos; writes keypoints.md)",
    "encoder_steps": "training steps of the learned initialiser", "milestones": "search steps the encoder "
    "study reports", "seed": "data seed (test faces: seed + 1) and first training seed",
    "seeds": "training seeds per method: seed, seed + 1, ...",
    "jobs": "runs side by side, each in a process whose ops use one thread (the numbers do not depend on it)",
    "models": "evaluate the models exported in this folder (conditioned/, dcgan/, mean_face.npy; e.g. "
    "models/celeba64) on --test_dir instead of training any",
    "export": "after training, export the first seed's averaged generators, discriminators and mean face here, "
    "in the form --models reads",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for field in dataclasses.fields(ComparisonConfig):
        kind = str2bool if field.type is bool else field.type
        extra = {"nargs": "?", "const": True} if kind is str2bool else {}
        extra.update(choices=UPSAMPLINGS) if field.name == "upsample" else None
        p.add_argument(f"--{field.name}", type=kind, default=field.default, help=HELP[field.name], **extra)
    return p.parse_args(argv)


def check_args(config):
    """One clear line for settings the experiments cannot run with, before any work."""
    if config.seeds < 1:
        raise UserError(f"--seeds {config.seeds}: train at least one seed per method")
    if config.models and config.export:
        raise UserError("--models evaluates exported models and --export exports trained ones: give one of them")
    if config.models and config.encoder_study:
        raise UserError("--encoder_study trains an encoder on the training records: run it without --models")
    if config.keypoint_study and not (config.models and config.test_dir):
        raise UserError("--keypoint_study evaluates exported models on real test faces: pass --models (e.g. "
                        "models/celeba64) and --test_dir (pairs made from photos by preprocess_test_images.py)")
    if config.jobs < 1:
        raise UserError(f"--jobs {config.jobs}: run at least one job at a time")
    if config.search_batch < 8 or config.search_batch % 8:
        raise UserError(f"--search_batch {config.search_batch} must be a multiple of 8: the consistency "
                        "experiment searches 8 masks of each face in one batch")
    unknown = [m for m in config.masks.split(",") if m not in MASK_TYPES]
    if unknown:
        raise UserError(f"--masks: unknown mask type {unknown[0]}; use some of {', '.join(MASK_TYPES)}")


def commit():
    """The checked-out commit, marked when the tree has changes: what produced a result."""
    try:  # asked of the repository itself, whatever folder the command runs in
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=ROOT)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head.stdout.strip() or "unknown") + (" with uncommitted changes" if dirty.stdout.strip() else "")


def run(args):
    from paper import comparison
    config = pick(ComparisonConfig, vars(args))
    check_args(config)
    config = comparison.with_exported_settings(config)
    if config.keypoint_study:
        return keypoint_study(config, args)
    progress = Progress(["data", "training and evaluation"] + ["encoder study"] * config.encoder_study
                        + ["figures and table"])
    progress.begin("synthetic data" if not (config.train_records and config.test_dir) else "data")
    records, test_dir = comparison.make_data(config)
    progress.end()
    progress.begin("evaluating the exported models" if config.models else "training and evaluating every method")
    jobs = comparison.train_and_evaluate(config, records, test_dir)
    if config.export:
        comparison.export_models(config, records)
    progress.end()
    study = None
    if config.encoder_study:
        progress.begin("learned initialiser: training it, then random vs encoder starts")
        study = comparison.encoder_study(config, records, test_dir)
        progress.end()
    progress.begin("figures and table")
    command = " ".join(["python experiments.py"] + sys.argv[1:]) if sys.argv[0].endswith("experiments.py") else \
        "experiments.run(" + ", ".join(f"{k}={v!r}" for k, v in vars(args).items()) + ")"
    stamp = {"minutes": progress.minutes(), "command": command, "commit": commit(),
             "phases": [[name, minutes] for name, minutes in progress.phases], "jobs": [list(j) for j in jobs]}
    summary, table = comparison.write_results(config, records, test_dir, stamp, study)
    progress.end()
    print("\n" + table + f"\nall done in {progress.minutes():.1f} min; see {config.results}/results.md")
    print("\n".join(report.time_lines(stamp)))
    return summary


def keypoint_study(config, args):
    from paper import keypoint_study
    progress = Progress(["keypoint study"])
    progress.begin("the conditioned model with each keypoint map")
    keypoint_study.run_study(config, config.test_dir)
    progress.end()
    stamp = {"minutes": progress.minutes(), "command": " ".join(["python experiments.py"] + sys.argv[1:]),
             "commit": commit()}
    summary = keypoint_study.write_study(config, config.test_dir, config.masks.split(","), stamp)
    print(f"all done in {progress.minutes():.1f} min; see {config.results}/keypoints.md")
    return summary


def main(args):
    return run(args)


if __name__ == "__main__":
    run_cli(main, parse_args)
