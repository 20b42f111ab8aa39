"""The paper's comparison as library functions: its data, the compared GANs trained at one
budget, and their evaluation, run side by side in worker processes (training/jobs.py).
experiments.py is its command line; sequence.py takes its conditioned model from here.

A run folder per method and training seed: <results>/runs/<method>/seed<s>/ (checkpoints,
samples, logs, train.log); evaluations in <results>/completions/<method>/seed<s>/<mask>/
and <results>/consistency/<method>/seed<s>/. Finished runs are reused.
"""
import dataclasses
import json
import os

import numpy as np

from core.configs import (MEAN_FACE_FILE, MODEL_FOLDERS, ComparisonConfig, EncoderTrainConfig, ModelConfig, SearchConfig,
                     TrainConfig)
from paper.report import METHODS
from training.jobs import ONE_OP_AT_A_TIME, YIELDING, Job, run_jobs
from utils import UserError


def methods(config):
    """The compared methods of this config: (key, title, arch, conditional)."""
    return [m for m in METHODS if config.ablation or m[0] != "ablation"]


def run_dir(config, key, seed):
    return os.path.join(config.results, "runs", key, f"seed{seed}")


def seeds(config):
    return [config.seed] if config.models else list(range(config.seed, config.seed + config.seeds))


def checkpoint_dir(config, key, seed):
    """A method's trained model: its run folder's checkpoints, or with config.models the
    model exported there (export_models)."""
    if config.models:
        return os.path.join(config.models, MODEL_FOLDERS[key])
    return os.path.join(run_dir(config, key, seed), "checkpoints")


def make_data(config):
    """Synthetic train records and test pairs rendered at the model's size (unless given).
    With config.models only the test pairs: the models and their mean face are given."""
    from facedata import preprocess
    if config.models:
        if not config.test_dir:
            raise UserError("--models evaluates exported models on real test faces: pass --test_dir (pairs of "
                            "preprocess_test_images.py, docs/data.md)")
        for key, *_ in methods(config):
            ModelConfig.load(checkpoint_dir(config, key, config.seed))  # one clear line if one is missing
        return None, config.test_dir  # config.train_records then only describes what they were trained on
    data = os.path.join(config.results, "data")
    records = config.train_records or os.path.join(data, "train_records")
    test_dir = config.test_dir or os.path.join(data, "test_images")
    jobs = [] if config.train_records else [(records, config.train_faces, config.seed, preprocess.write_train_records)]
    jobs += [] if config.test_dir else [(test_dir, config.test_faces, config.seed + 1, preprocess.write_test_pairs)]
    for out, count, seed, write in jobs:
        try:
            preprocess.run(write, output_dir=out, synthetic=count, seed=seed, size=config.output_size)
        except preprocess.OtherInputs:
            raise UserError(f"{out} holds faces made with other settings (an earlier run?): pass another "
                            "--results folder, or delete that one") from None
    return records, test_dir


def train_configs(config, key, seed, records):
    """The ModelConfig and TrainConfig of one method's run at the shared budget."""
    _, _, arch, conditional = next(m for m in METHODS if m[0] == key)
    run, interval = run_dir(config, key, seed), max(1, config.train_steps // 4)
    ecgan = {"upsample": config.upsample, "deconv_kernel": config.deconv_kernel} if arch == "ecgan" else {}
    model = ModelConfig(output_size=config.output_size, gf_dim=config.gf_dim, df_dim=config.df_dim, arch=arch,
                        conditional=conditional, seed=seed, **ecgan)
    train = TrainConfig(train_records=records, checkpoint_dir=os.path.join(run, "checkpoints"),
                        sample_dir=os.path.join(run, "samples"), log_dir=os.path.join(run, "logs"), epoch=100_000,
                        max_steps=config.train_steps, batch_size=config.batch_size,
                        learning_rate=config.learning_rate, beta1=config.beta1, ema_decay=config.ema_decay,
                        sampleInterval=interval, saveInterval=interval,
                        print_every=max(1, config.train_steps // 20), seed=seed)
    return model, train


def train(config, key, seed, records):
    """One method's GAN (resumes a stopped run; a finished one is left as it is)."""
    from training.loop import GANTrainer
    GANTrainer(*train_configs(config, key, seed, records)).run()


def search_config(config, seed):
    return SearchConfig(batch_size=config.search_batch, nIter=config.nIter, outInterval=config.nIter, lam=config.lam,
                        seed=seed)


def generator_weights(config):
    return "average" if config.ema_decay > 0 else "raw"


def search_flops(model_config):
    """FLOPs of one latent-search step per image: G and D forward, and their input
    gradients (the weights are fixed)."""
    from model import flops_per_image
    g, d = flops_per_image(model_config, tiled_z_shortcut=True)
    return 2 * (g + d)


def job_work(config, key, seed, faces, parts=None):
    """The FLOPs of a method's training (parts None) or of evaluation parts: what the time
    left is measured in (jobs.Job.work)."""
    from model import train_step_flops
    model, _ = train_configs(config, key, seed, None)
    if parts is None:
        return config.train_steps * train_step_flops(model, config.batch_size, tiled_z_shortcut=True)
    images = sum(8 * min(config.temporal_subjects, faces) if part == CONSISTENCY else faces for part in parts)
    return images * config.nIter * search_flops(model)


def evaluate(config, key, seed, test_dir, parts):
    """Parts of the two experiments for one trained model, with one compiled search: mask
    types of config.masks (the correctness experiment on the test faces) and "consistency".
    Each image's random start depends on the seed and its number alone, so the parts can
    run in any order or process."""
    from facedata import dataset
    from paper import evaluation
    from inpainting import masks
    from inpainting.inpaint import LatentSearch, load_model
    images, maps, names = dataset.load_test_pairs(test_dir, config.output_size, config.test_faces)
    gan = load_model(checkpoint_dir(config, key, seed), generator=generator_weights(config))
    search = LatentSearch(gan, search_config(config, seed))
    for number, part in enumerate(parts, 1):
        if part == CONSISTENCY:
            n, out = config.temporal_subjects, os.path.join(config.results, "consistency", key, f"seed{seed}")
            evaluation.consistency(gan, search, images[:n], maps[:n], out, mask_type=config.temporal_mask, seed=seed,
                                   names=names[:n])
        else:
            evaluation.correctness(gan, search, images, maps, masks.masks_for(len(images), config.output_size, part),
                                   os.path.join(config.results, "completions", key, f"seed{seed}", part),
                                   mask_name=part, names=names)
        print(f"part {number}/{len(parts)} done: {part}", flush=True)  # the progress jobs.run_jobs reads


CONSISTENCY = "consistency"
# A run's evaluation in three jobs (of its five equal parts: 2, 2 and 1), so that the last
# run's evaluation, which nothing else overlaps, keeps both cores busy to the end.
EVALUATION_JOBS_PER_RUN = 3


def train_and_evaluate(config, records, test_dir):
    """Every method and training seed trained, then evaluated (in EVALUATION_JOBS_PER_RUN
    jobs, each as soon as its run is trained), config.jobs jobs at a time. Returns where
    the time went: [(job, start, end minutes from the start, training ms a step or None)]."""
    from facedata import dataset
    faces = len(dataset.load_test_pairs(test_dir, config.output_size, config.test_faces)[0])
    runs = [(key, seed) for key, *_ in methods(config) for seed in seeds(config)]
    parts = config.masks.split(",") + [CONSISTENCY]
    groups = [parts[i::EVALUATION_JOBS_PER_RUN] for i in range(EVALUATION_JOBS_PER_RUN)]
    jobs = []
    for key, seed in runs:
        run = run_dir(config, key, seed)
        training = None if config.models else Job(f"training {key} seed {seed}", train, (config, key, seed, records),
                                                  os.path.join(run, "train.log"),
                                                  work=job_work(config, key, seed, faces))
        jobs += [training] * (training is not None) + [
            Job(f"evaluating {key} seed {seed} ({', '.join(group)})", evaluate, (config, key, seed, test_dir, group),
                os.path.join(run, f"evaluate{i}.log"), env=ONE_OP_AT_A_TIME, after=training and training.name,
                work=job_work(config, key, seed, faces, group), nice=YIELDING)
            for i, group in enumerate(groups) if group]
    trained = f"the models in {config.models} on" if config.models else \
        f"{len(runs)} GANs, {config.train_steps} training steps each, then"
    print(f"{trained} the test faces under "
          f"{config.masks} and consistency under 8 {config.temporal_mask} masks per face, {config.nIter} search steps; "
          f"{config.jobs} jobs at a time (logs in each run folder)", flush=True)
    timings = {}
    run_jobs(jobs, config.jobs, timings)
    return [(job.name, *timings[job.name], step_ms(job.log) if job.name.startswith("training") else None)
            for job in jobs if job.name in timings]


def step_ms(log):
    """Mean milliseconds a training step took, from the s/step of the log's progress lines
    (each over the steps since the last; start-up and tracing before the first), or None."""
    import re
    try:
        with open(log, errors="replace") as f:
            found = [float(v) for v in re.findall(r"([0-9.]+) s/step", f.read())]
    except OSError:
        return None
    return 1000 * sum(found) / len(found) if found else None


def encoder_study(config, records, test_dir):
    """The learned initialiser of the first seed's conditioned model against random starts
    (evaluation.encoder_study), in a worker."""
    checkpoint_dir = os.path.join(run_dir(config, "conditioned", config.seed), "checkpoints")
    return run_jobs([Job("encoder study", _encoder_study, (config, checkpoint_dir, records, test_dir),
                         os.path.join(config.results, "consistency", "encoder_study.log"), env=ONE_OP_AT_A_TIME)],
                    1)[0]


def _encoder_study(config, checkpoint_dir, records, test_dir):
    from facedata import dataset
    from paper import evaluation
    images, maps, _ = dataset.load_test_pairs(test_dir, config.output_size, config.test_faces)
    return evaluation.encoder_study(
        checkpoint_dir, images, maps, os.path.join(config.results, "consistency"), mask_types=config.masks.split(","),
        milestones=sorted(int(n) for n in config.milestones.split(",")), temporal_mask=config.temporal_mask,
        temporal_subjects=config.temporal_subjects, encoder_config=encoder_config(config, checkpoint_dir, records),
        search_config=search_config(config, config.seed))


def encoder_config(config, checkpoint_dir, records):
    return EncoderTrainConfig(checkpoint_dir=checkpoint_dir, train_records=records, steps=config.encoder_steps,
                              batch_size=config.batch_size, seed=config.seed, generator=generator_weights(config),
                              print_every=max(1, config.encoder_steps // 5))


def _conditioned_run(config, records, encoder):
    from inpainting.encoder import train_encoder
    train(config, "conditioned", config.seed, records)
    if encoder:
        train_encoder(encoder_config(config, os.path.join(run_dir(config, "conditioned", config.seed),
                                                          "checkpoints"), records))


def conditioned_model(results="results", encoder=False):
    """The keypoint-conditioned model of the default comparison (first seed) in `results`,
    made and trained here with the default settings where it is missing (a finished run is
    reused; trained in a worker as experiments.py trains it, so it is the same model), and
    with encoder=True its learned initialiser too. Returns (its checkpoint folder, the
    default settings, a ComparisonConfig)."""
    config = dataclasses.replace(ComparisonConfig(), results=results)
    records, _ = make_data(config)
    run = run_dir(config, "conditioned", config.seed)
    run_jobs([Job("the conditioned model", _conditioned_run, (config, records, encoder),
                  os.path.join(run, "train.log"))], 1)
    return os.path.join(run, "checkpoints"), config


def write_results(config, records, test_dir, run, study=None):
    """Figures, results.md and results.json of a finished comparison; returns the summary.
    run: {"minutes", "command", "commit"} (report.write_table)."""
    import shutil

    from facedata import dataset
    from paper import evaluation, figures
    from inpainting import masks
    from paper import report
    from utils import save_image, save_json, to_uint8
    out = os.path.join(config.results, "figures")
    first = seeds(config)[0]
    mask_types, keys = config.masks.split(","), [key for key, *_ in methods(config)]
    images, test_maps, _ = dataset.load_test_pairs(test_dir, config.output_size, config.test_faces)
    figures.visualize(checkpoint_dir(config, "conditioned", first), records, out, first,
                      generator=generator_weights(config), maps=None if records else test_maps[:8])
    grid = "sample_average" if config.ema_decay > 0 else "sample"
    for key, *_ in methods(config):
        samples = os.path.join(run_dir(config, key, first), "samples", "celebA", f"{grid}_{config.train_steps}.png")
        if os.path.exists(samples):
            shutil.copyfile(samples, os.path.join(out, f"sample_{key}.png"))
    with open(os.path.join(out, "decoupling.json")) as f:
        decoupling = json.load(f)
    floor = evaluation.mean_face_baseline(images, training_mean_face(config, records), mask_types)
    values, per_seed, truth, consistency = report.collect(config.results, keys, seeds(config), mask_types)
    report.add_mean_face(values, floor)
    panels, shown = [], min(evaluation.EXAMPLES, len(images))
    for m in mask_types:
        holes = masks.masks_for(shown, config.output_size, m)
        columns = [("truth", to_uint8(images[:shown])),
                   (f"{report.MASK_TITLES.get(m, m)}", to_uint8(images[:shown] * holes[..., None]))]
        for key, title, *_ in methods(config):
            fills = np.load(os.path.join(config.results, "completions", key, f"seed{first}", m, "examples.npz"))
            columns.append((SHORT_TITLES[key], fills["after"]))
        columns.append((SHORT_TITLES[report.MEAN_FACE[0]], floor[m]["examples"]))
        save_image(os.path.join(out, f"fills_{m}.png"), figures.fills_figure(columns, examples=min(6, shown)))
        panels.append(figures.fills_figure(columns, examples=min(2, shown)))
    save_image(os.path.join(out, "fills.png"), np.concatenate(panels, axis=0))
    summary = report.summarise(keys, mask_types, values, per_seed, truth, consistency)
    settings = dataclasses.asdict(config)
    save_json(os.path.join(config.results, "results.json"),
              {"settings": settings, "machine": report.machine(), **run, "results": summary,
               "decoupling": decoupling, "encoder_study": study})
    table = report.write_table(settings, os.path.join(config.results, "results.md"), methods(config), values,
                               per_seed, truth, consistency, run, decoupling, study)
    return summary, table


def training_mean_face(config, records):
    """The mean training face of the compared models: from the records, or with
    config.models the one exported beside them."""
    from facedata import dataset
    if not config.models:
        return dataset.mean_face(records, config.output_size)
    path = os.path.join(config.models, MEAN_FACE_FILE)
    if not os.path.exists(path):
        raise UserError(f"no {MEAN_FACE_FILE} in {config.models}: export the models with experiments.py --export")
    return np.load(path)


TRAINING_FILE = "training.json"  # beside exported models: the comparison settings they were trained with
TRAINED_FIELDS = ("output_size", "gf_dim", "df_dim", "upsample", "deconv_kernel", "batch_size", "train_steps",
                  "learning_rate", "beta1", "ema_decay", "train_records")


def with_exported_settings(config):
    """config, with config.models, taking the exported models' training settings (their
    training.json) in place of the flags' defaults, so the report states how they were made."""
    if not config.models:
        return config
    path = os.path.join(config.models, TRAINING_FILE)
    if not os.path.exists(path):
        raise UserError(f"no {TRAINING_FILE} in {config.models}: pass a folder written by experiments.py --export")
    with open(path) as f:
        trained = json.load(f)
    return dataclasses.replace(config, **{k: trained[k] for k in TRAINED_FIELDS if k in trained})


def export_models(config, records):
    """The first seed's trained models as inference needs them (inpaint.export_model: G's
    average and D, the config), one folder per method (configs.MODEL_FOLDERS), the mean
    training face and the training faces' shape model (what a damaged face's hidden landmarks
    are estimated from), into config.export. Returns {folder: trained steps}."""
    from facedata import dataset, shape
    from inpainting.inpaint import export_model
    from utils import save_json, save_npy
    steps = {}
    for key, *_ in methods(config):
        folder = MODEL_FOLDERS[key]
        steps[folder] = export_model(checkpoint_dir(config, key, config.seed), os.path.join(config.export, folder),
                                     generator=generator_weights(config))
    save_npy(os.path.join(config.export, MEAN_FACE_FILE), training_mean_face(config, records).astype(np.float32))
    shape.fit_records(records).save(os.path.join(config.export, shape.SHAPE_MODEL_FILE))
    trained = {k: getattr(config, k) for k in TRAINED_FIELDS}
    trained.update(train_records=f"{dataset.count_records(records)} faces of {os.path.basename(records.rstrip('/'))}",
                   steps=steps, seed=config.seed)
    save_json(os.path.join(config.export, TRAINING_FILE), trained)
    print(f"exported {', '.join(steps)}, {MEAN_FACE_FILE} and {shape.SHAPE_MODEL_FILE} to {config.export}")
    return steps


SHORT_TITLES = {"conditioned": "ECGAN+map", "dip": "DCGAN (DIP)", "ablation": "no map", "mean_face": "mean face"}
