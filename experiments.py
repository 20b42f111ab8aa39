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

from configs import EncoderTrainConfig, ModelConfig, SearchConfig, TrainConfig
from masks import MASK_TYPES, PAPER_MASKS
from report import MEAN_FACE, METHODS, PHASES  # noqa: F401  (the compared methods, for the tests)
from utils import Progress, UserError, run_cli, save_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--results", default="results")
    p.add_argument("--train_records", default=None, help="use these records instead of synthetic faces")
    p.add_argument("--test_dir", default=None, help="use these test pairs instead of synthetic faces")
    p.add_argument("--train_faces", type=int, default=12000, help="synthetic training faces (see README: not fewer)")
    p.add_argument("--test_faces", type=int, default=256,
                   help="synthetic test faces to make, or the first N pairs of --test_dir to use")
    p.add_argument("--output_size", type=int, default=32)
    p.add_argument("--gf_dim", type=int, default=8)
    p.add_argument("--df_dim", type=int, default=16,
                   help="2 x gf_dim restores the paper's G:D parameter ratio at 32x32 (D has one conv fewer)")
    p.add_argument("--batch_size", type=int, default=32, help="training batch")
    p.add_argument("--train_steps", type=int, default=1500)
    p.add_argument("--learning_rate", type=float, default=0.0002)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--nIter", type=int, default=75, help="latent-search steps per image")
    p.add_argument("--search_batch", type=int, default=256, help="images per latent-search batch")
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--masks", default=",".join(PAPER_MASKS))
    p.add_argument("--temporal_mask", default="center", help="mask type of the consistency experiment")
    p.add_argument("--temporal_subjects", type=int, default=32)
    p.add_argument("--encoder_study", action="store_true",
                   help="also train the learned initialiser and compare random vs encoder starts")
    p.add_argument("--encoder_steps", type=int, default=1500)
    p.add_argument("--milestones", default="0,10,20,50,100,150,300,600,1000,1500", help="of the encoder study")
    p.add_argument("--seed", type=int, default=0, help="data seed (test faces: seed + 1), first training seed")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per method: seed, seed + 1, ...")
    return p.parse_args(argv)


def run_dir(args, key, seed):
    return os.path.join(args.results, "runs", key, f"seed{seed}")


def train(args, key, arch, conditional, seed, records):
    """One method's GAN at the shared budget, in its own run folder (resumes if it exists)."""
    from training import GANTrainer
    run, interval = run_dir(args, key, seed), max(1, args.train_steps // 4)
    model = ModelConfig(output_size=args.output_size, gf_dim=args.gf_dim, df_dim=args.df_dim, arch=arch,
                        conditional=conditional, seed=seed)
    config = TrainConfig(train_records=records, checkpoint_dir=os.path.join(run, "checkpoints"),
                         sample_dir=os.path.join(run, "samples"), log_dir=os.path.join(run, "logs"), epoch=100_000,
                         max_steps=args.train_steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                         beta1=args.beta1, sampleInterval=interval, saveInterval=interval,
                         print_every=max(1, args.train_steps // 10), seed=seed)
    GANTrainer(model, config).run()


def search_config(args, seed):
    # Built field by field: --beta1 here is the GANs' Adam beta1, not the search's.
    return SearchConfig(batch_size=args.search_batch, nIter=args.nIter, outInterval=args.nIter, lam=args.lam, seed=seed)


def make_data(args):
    """Synthetic train records and test pairs rendered at the model's size (unless given)."""
    import preprocess
    data = os.path.join(args.results, "data")
    records = args.train_records or os.path.join(data, "train_records")
    test_dir = args.test_dir or os.path.join(data, "test_images")
    jobs = [] if args.train_records else [(records, args.train_faces, args.seed, preprocess.write_train_records)]
    jobs += [] if args.test_dir else [(test_dir, args.test_faces, args.seed + 1, preprocess.write_test_pairs)]
    for out, count, seed, write in jobs:
        try:
            preprocess.run(write, output_dir=out, synthetic=count, seed=seed, size=args.output_size)
        except preprocess.OtherInputs:
            raise UserError(f"{out} holds faces made with other settings (an earlier run?): pass another "
                            "--results folder, or delete that one") from None
    return records, test_dir


def encoder_config(args, checkpoint_dir, records):
    return EncoderTrainConfig(checkpoint_dir=checkpoint_dir, train_records=records, steps=args.encoder_steps,
                              batch_size=args.batch_size, seed=args.seed, print_every=max(1, args.encoder_steps // 5))


def conditioned_model(results="results", encoder=False):
    """The keypoint-conditioned model of the default run (first seed) in `results`, made and
    trained here with the default settings where they are missing (a finished run is
    reused), and with encoder=True its learned initialiser too. Returns (its checkpoint
    folder, the default settings)."""
    from encoder import train_encoder
    args = parse_args(["--results", results])
    key, _, arch, conditional = METHODS[0]
    records, _ = make_data(args)
    train(args, key, arch, conditional, args.seed, records)
    checkpoint_dir = os.path.join(run_dir(args, key, args.seed), "checkpoints")
    if encoder:
        train_encoder(encoder_config(args, checkpoint_dir, records))
    return checkpoint_dir, args


def evaluate(args, key, seed, images, maps, names):
    """Both experiments for one trained model, with one compiled search."""
    import evaluation
    import masks
    from inpaint import LatentSearch, load_model
    gan = load_model(os.path.join(run_dir(args, key, seed), "checkpoints"))
    search = LatentSearch(gan, search_config(args, seed))
    for m in args.masks.split(","):
        evaluation.correctness(gan, search, images, maps, masks.masks_for(len(images), args.output_size, m),
                               os.path.join(args.results, "completions", key, f"seed{seed}", m), mask_name=m,
                               names=names)
    n, out = args.temporal_subjects, os.path.join(args.results, "consistency", key, f"seed{seed}")
    evaluation.consistency(gan, search, images[:n], maps[:n], out, mask_type=args.temporal_mask, seed=seed,
                           names=names[:n])


def check_args(args):
    """One clear line for settings the experiments cannot run with, before any work."""
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: train at least one seed per method")
    if args.search_batch < 8 or args.search_batch % 8:
        raise UserError(f"--search_batch {args.search_batch} must be a multiple of 8: the consistency "
                        "experiment searches 8 masks of each face in one batch")
    unknown = [m for m in args.masks.split(",") if m not in MASK_TYPES]
    if unknown:
        raise UserError(f"--masks: unknown mask type {unknown[0]}; use some of {', '.join(MASK_TYPES)}")


def run(args):
    import dataset
    import evaluation
    import figures
    import report
    check_args(args)
    mask_types, seeds = args.masks.split(","), list(range(args.seed, args.seed + args.seeds))
    costs = [(k, 10 if a == "ecgan" else 3) for k, _, a, _ in METHODS for _ in seeds]
    progress = Progress([("data", 1)] + costs + [(k, c * 4 // 5) for k, c in costs]
                        + [("encoder study", 30)] * args.encoder_study + [("figures and table", 1)])
    os.makedirs(args.results, exist_ok=True)
    progress.begin("synthetic data" if not (args.train_records and args.test_dir) else "data")
    records, test_dir = make_data(args)
    images, maps, names = dataset.load_test_pairs(test_dir, args.output_size, args.test_faces)
    progress.end()
    for key, title, arch, conditional in METHODS:
        for seed in seeds:
            progress.begin(f"training {title}, seed {seed}")
            train(args, key, arch, conditional, seed, records)
            progress.end()
    for key, title, _, _ in METHODS:
        for seed in seeds:
            progress.begin(f"{title}, seed {seed}: inpainting the test faces ({', '.join(mask_types)}) and "
                           f"consistency under 8 {args.temporal_mask} masks per face")
            evaluate(args, key, seed, images, maps, names)
            progress.end()
    study = None
    if args.encoder_study:
        progress.begin("learned initialiser: training it, then random vs encoder starts")
        ckpt = os.path.join(run_dir(args, "conditioned", args.seed), "checkpoints")
        study = evaluation.encoder_study(
            ckpt, images, maps, os.path.join(args.results, "consistency"), mask_types=mask_types,
            milestones=sorted(int(n) for n in args.milestones.split(",")), temporal_mask=args.temporal_mask,
            temporal_subjects=args.temporal_subjects,
            encoder_config=encoder_config(args, ckpt, records),
            search_config=search_config(args, args.seed))
        progress.end()

    progress.begin("figures and table")
    out = os.path.join(args.results, "figures")
    figures.visualize(os.path.join(run_dir(args, "conditioned", args.seed), "checkpoints"), records, out, args.seed)
    for key, *_ in METHODS:
        samples = os.path.join(run_dir(args, key, args.seed), "samples", "celebA", f"sample_{args.train_steps}.png")
        if os.path.exists(samples):
            shutil.copyfile(samples, os.path.join(out, f"sample_{key}.png"))
    with open(os.path.join(out, "decoupling.json")) as f:
        decoupling, settings = json.load(f), vars(args)
    psnr, per_seed, consistency = report.collect(settings, mask_types)
    floor = evaluation.mean_face_baseline(images, dataset.mean_face(records, args.output_size), mask_types)
    for phase, *_ in PHASES:
        psnr[phase]["mean_face"] = floor[phase]
    summary = report.summarise(mask_types, psnr, per_seed, consistency)
    save_json(os.path.join(args.results, "results.json"),
              {"settings": settings, "machine": report.machine(), "minutes": progress.minutes(), "results": summary,
               "decoupling": decoupling, "encoder_study": study})
    table = report.write_table(settings, os.path.join(args.results, "results.md"), psnr, per_seed, consistency,
                               progress.minutes(), decoupling, study)
    progress.end()
    print("\n" + table + f"\nall done in {progress.minutes():.1f} min; see {args.results}/results.md")
    return summary


def main(args):
    return run(args)


if __name__ == "__main__":
    run_cli(main, parse_args)
