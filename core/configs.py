"""The configs of the library, as dataclasses with the original's flag names, and the one
helper that saves and loads them as JSON. No TensorFlow here: scripts build their flags
from these defaults without loading it.

ModelConfig: the architecture, saved beside each checkpoint (config.json) and read back by
complete.py, temporal.py and train_encoder.py. SearchConfig: the latent search.
TrainConfig: a training run of main.py. EncoderConfig / EncoderTrainConfig: the learned
initialiser and its training run.
"""
import dataclasses
import json
import os

from utils import UserError, save_json, str2bool

CONFIG_NAME = "config.json"
ARCHS = ("ecgan", "dcgan")
PRECISIONS = ("float32", "bfloat16")
# How G doubles its resolution: stride-2 transposed convs (the paper's), or nearest-neighbour
# upsampling then a stride-1 conv (no checkerboard; docs/spec.md section 9).
UPSAMPLINGS = ("transposed", "resize")
APPROACHES = ("adam", "hmc")
Z_INITS = ("random", "encoder")
GENERATOR_WEIGHTS = ("average", "raw")  # at inference: the run's average of G's weights, or G's own
BLEND_SOLVERS = ("banded", "splu", "pyamg")  # Poisson blending (inpainting/blend.py); all give the same result
MASK_TYPES = ("center", "left", "right", "top", "bottom", "checkboard", "freehand_poly", "strokes", "full", "grid",
              "random")
# Where a damaged face's keypoint map comes from (inpainting/photo.py face_landmarks): the photo before the
# damage (the paper's protocol), dlib on the damaged photo as it is, or the estimate from what is visible (what
# a user has, and the default of photos, videos and the page).
KEYPOINT_SOURCES = ("clean", "dlib", "estimate")
DISTRIBUTE_MODES = ("none", "mirrored", "multi_worker")
TEMPORAL_METHODS = ("independent", "warm", "smooth", "encoder")  # sequence.py's --temporal (inpainting/clips.py)
# The repository's root: this file is core/configs.py.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The real-face models that ship with the repository (models/celeba64/MODEL_CARD.md): what photos,
# videos and the page use when no --checkpoint_dir is given. One folder per compared method.
SHIPPED_MODELS = os.path.join(ROOT, "models", "celeba64")
MODEL_FOLDERS = {"conditioned": "conditioned", "dip": "dcgan", "ablation": "no_map"}
SHIPPED_MODEL = os.path.join(SHIPPED_MODELS, MODEL_FOLDERS["conditioned"])
MEAN_FACE_FILE = "mean_face.npy"  # beside exported models: the training faces' mean, [S, S, 3] in [-1, 1]


def save_config(path, config):
    """A dataclass config as JSON, atomically (the run folder's record of its settings)."""
    save_json(path, dataclasses.asdict(config))


def load_config(cls, path, missing):
    """The dataclass saved at path; `missing` is the one line to raise if there is none.
    Fields it gained since take their defaults."""
    if not os.path.exists(path):
        raise UserError(missing)
    with open(path) as f:
        return cls(**json.load(f))


def pick(cls, values, **changes):
    """A dataclass from the entries of `values` (a dict, e.g. vars(args)) named like its
    fields, the rest ignored, then `changes`. Scripts turn flags into configs with it."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{**{k: v for k, v in values.items() if k in names}, **changes})


@dataclasses.dataclass
class ModelConfig:
    output_size: int = 64
    z_dim: int = 100
    gf_dim: int = 64
    df_dim: int = 64
    c_dim: int = 3
    conditional: bool = True
    seed: int = 0  # weight initialisation
    arch: str = "ecgan"  # configs saved before the DCGAN baseline existed have no arch: ecgan
    deconv_kernel: int = 0  # transposed-conv kernel; 0: the arch's own (ecgan 5, dcgan 3)
    upsample: str = "transposed"  # configs saved before this option existed: the paper's transposed convs
    precision: str = "float32"  # or "bfloat16": mixed precision (float32 variables); not architecture

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise UserError(f"unknown --arch {self.arch}: use {' or '.join(ARCHS)}")
        if self.upsample not in UPSAMPLINGS:
            raise UserError(f"unknown --upsample {self.upsample}: use {' or '.join(UPSAMPLINGS)}")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown --precision {self.precision}: use {' or '.join(PRECISIONS)}")
        if self.arch == "dcgan":
            self.conditional = False  # the authors' baseline never sees a keypoint map
        if self.output_size < 16 or self.output_size & (self.output_size - 1):
            raise UserError(f"--output_size {self.output_size} must be a power of two, 16 or more "
                            "(the paper uses 64 and 128)")

    @property
    def up_kernel(self):
        return self.deconv_kernel or (3 if self.arch == "dcgan" else 5)

    @property
    def map_channels(self):
        return self.c_dim if self.conditional else 0

    def architecture(self):
        """The fields that decide variable shapes (the seed and the precision do not)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("seed", "precision")}

    def save(self, directory):
        save_config(os.path.join(directory, CONFIG_NAME), self)

    @classmethod
    def load(cls, directory):
        return load_config(cls, os.path.join(directory, CONFIG_NAME),
                           f"no {CONFIG_NAME} in {directory}: train a model there first (python main.py "
                           f"--checkpoint_dir {directory}) or pass the right --checkpoint_dir")

    def check_same_architecture(self, other, where):
        mine, theirs = self.architecture(), other.architecture()
        if mine != theirs:
            diff = ", ".join(f"{k} {theirs[k]} (asked {mine[k]})" for k in mine if mine[k] != theirs[k])
            raise UserError(f"{where} holds a model with {diff}: use the same settings or another "
                            "--checkpoint_dir")


@dataclasses.dataclass
class SearchConfig:
    """The latent search; fields are named as the original's flags of complete.py."""
    batch_size: int = 64     # images searched together (each image's search is independent)
    nIter: int = 1500        # steps per image
    outInterval: int = 100   # steps between milestones (intermediate results); 0: only the end
    lam: float = 0.1         # weight of the prior (GAN) loss
    approach: str = "adam"
    lr: float = 0.01         # Adam on z
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-5
    hmcBeta: float = 0.2     # HMC: inverse temperature of exp(-beta * loss), leapfrog step, steps
    hmcEps: float = 0.001
    hmcL: int = 100
    hmcAnneal: float = 1.0   # beta is multiplied by this after each proposal
    z_init: str = "random"   # or "encoder": the learned initialiser of train_encoder.py
    seed: int = 0            # random starts and HMC noise
    tiled_z_shortcut: bool = True

    def __post_init__(self):
        if self.approach not in APPROACHES:
            raise UserError(f"unknown --approach {self.approach}: use {' or '.join(APPROACHES)}")
        if self.z_init not in Z_INITS:
            raise UserError(f"unknown --z_init {self.z_init}: use {' or '.join(Z_INITS)}")
        if self.batch_size < 1 or self.nIter < 0:
            raise UserError(f"--batch_size {self.batch_size} and --nIter {self.nIter}: use a batch of 1 or "
                            "more and 0 or more steps")

    def milestones(self):
        """Step counts at which results are reported: every outInterval, and nIter."""
        every = self.outInterval if self.outInterval > 0 else max(self.nIter, 1)
        return sorted(set(range(every, self.nIter, every)) | {self.nIter})


@dataclasses.dataclass
class TrainConfig:
    """A training run of main.py; fields are named as its flags."""
    train_records: str = "data/train_records"
    checkpoint_dir: str = "checkpoints"
    sample_dir: str = "samples"
    log_dir: str = "logs"
    dataset: str = "celebA"  # name of the sample sub-folder
    epoch: int = 25
    max_steps: int = 0       # 0: no limit
    batch_size: int = 64
    learning_rate: float = 0.0002
    beta1: float = 0.5
    sampleInterval: int = 500
    saveInterval: int = 2500
    print_every: int = 50
    seed: int = 0            # data order and the z stream (the weights' seed is ModelConfig.seed)
    ema_decay: float = 0.999  # of the average of G's weights kept beside them; 0: none (the paper)
    xla: bool = False
    distribute: str = "none"  # or "mirrored", "multi_worker" (core/distribute.py); batch_size is then global
    virtual_devices: int = 0  # split the CPU into this many logical devices


@dataclasses.dataclass
class ComparisonConfig:
    """The paper's comparison as experiments.py runs it (paper/comparison.py); fields are named as
    its flags. One budget for every compared GAN: the same training steps, batch, Adam,
    weight averaging and latent search."""
    results: str = "results"
    train_records: str = None    # records instead of synthetic training faces
    test_dir: str = None         # test pairs instead of synthetic test faces
    train_faces: int = 12000
    test_faces: int = 256
    # The CPU recipe, chosen on data seed 10 (docs/results.md): sizes and steps that fit 8 minutes.
    output_size: int = 32
    gf_dim: int = 16
    df_dim: int = 32             # 2 x gf_dim: the paper's G:D parameter ratio at 32x32 (D has one conv fewer)
    batch_size: int = 16
    # How the keypoint-conditioned G (and its ablation) upsamples, and the kernel; the DCGAN
    # baseline keeps its authors' 3x3 transposed convs. The default is the paper's.
    upsample: str = "transposed"
    deconv_kernel: int = 0
    train_steps: int = 4000
    learning_rate: float = 0.0002
    beta1: float = 0.5
    ema_decay: float = 0.999     # 0: evaluate G's own weights
    nIter: int = 75
    search_batch: int = 256
    lam: float = 0.1
    masks: str = "center,checkboard,left,freehand_poly"
    temporal_mask: str = "center"
    temporal_subjects: int = 32
    ablation: bool = False       # also train and evaluate the ECGAN without its map
    encoder_study: bool = False
    keypoint_study: bool = False  # with models: the conditioned model with each map a user can give, nothing else
    encoder_steps: int = 1500
    milestones: str = "0,10,20,50,100,150,300,600,1000,1500"
    seed: int = 0                # data seed (test faces: seed + 1) and first training seed
    seeds: int = 1
    jobs: int = 3                # runs side by side (training/jobs.py)
    models: str = None           # evaluate the models exported in this folder instead of training
    export: str = None           # after training, export the first seed's models here (as models/celeba64)


@dataclasses.dataclass
class EncoderConfig:
    """The learned initialiser's architecture, saved as encoder.json beside its checkpoints."""
    output_size: int = 64
    z_dim: int = 100
    ef_dim: int = 64
    conditional: bool = True
    seed: int = 0
    precision: str = "float32"
    gan: str = ""  # the GAN weights it was trained for: "<checkpoint>:<average|raw>" (inpaint.load_model's source)


@dataclasses.dataclass
class EncoderTrainConfig:
    """A training run of train_encoder.py; fields are named as its flags."""
    checkpoint_dir: str = "checkpoints"
    train_records: str = "data/train_records"
    steps: int = 5000
    batch_size: int = 64
    ef_dim: int = 0          # 0: the model's df_dim
    learning_rate: float = 1e-3
    lam: float = 0.1
    l2_weight: float = 1.0
    precision: str = "float32"  # of the encoder and of the frozen G and D
    generator: str = "average"  # which of the run's G weights it is trained for (GENERATOR_WEIGHTS)
    saveInterval: int = 1000
    print_every: int = 100
    seed: int = 0
    distribute: str = "none"  # as TrainConfig's
    virtual_devices: int = 0


def add_search_flags(p, nIter, outDir):
    """The flags of the latent search (SearchConfig's fields, its defaults unless given here)
    and of the test faces, shared by complete.py and temporal.py."""
    d = SearchConfig(nIter=nIter)
    p.add_argument("--approach", default=d.approach, choices=APPROACHES,
                   help="adam: gradient descent on z, as the paper; hmc: Hamiltonian Monte Carlo from there")
    for name, kind, text in (("lr", float, "Adam's learning rate on z"), ("beta1", float, "Adam's beta1 on z"),
                             ("beta2", float, "Adam's beta2 on z"), ("eps", float, "Adam's epsilon on z"),
                             ("hmcBeta", float, "HMC: inverse temperature of exp(-beta * loss)"),
                             ("hmcEps", float, "HMC: leapfrog step size"), ("hmcL", int, "HMC: leapfrog steps"),
                             ("hmcAnneal", float, "HMC: beta is multiplied by this after each proposal"),
                             ("nIter", int, "search steps per image")):
        p.add_argument(f"--{name}", type=kind, default=getattr(d, name), help=text)
    p.add_argument("--outInterval", type=int, default=d.outInterval, help="steps between intermediate images")
    p.add_argument("--lam", type=float, default=d.lam, help="weight of the prior (GAN) loss")
    p.add_argument("--batch_size", type=int, default=d.batch_size,
                   help="images searched together (each image's search is independent of the others)")
    p.add_argument("--z_init", default=d.z_init, choices=Z_INITS,
                   help="start z ~ U(-1, 1), or at the learned encoder's guess (train_encoder.py)")
    p.add_argument("--tiled_z_shortcut", type=str2bool, nargs="?", const=True, default=d.tiled_z_shortcut,
                   help="compute G's first conv over the tiled z by border class (exact, faster)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="random starts (image i of the test set always starts from the same z) and masks")
    add_precision_flag(p, None, "bfloat16: mixed precision (float32 variables and losses); default: as trained")
    add_generator_flag(p)
    p.add_argument("--output_size", type=int, default=None, help="checked against the trained model")
    p.add_argument("--checkpoint_dir", default=None,
                   help="the trained GAN (main.py's --checkpoint_dir); default: checkpoints, or for complete.py "
                        "--image the real-face model that ships in models/celeba64/conditioned")
    p.add_argument("--test_dir", default="data/test_images", help="pairs from preprocess_test_images.py")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="first write N synthetic test pairs (seed 1) to --test_dir")
    p.add_argument("--limit", type=int, default=0, help="use only the first N test faces (0: all)")
    p.add_argument("--outDir", default=outDir, help="where the results are written")
    add_blend_flag(p)
    p.add_argument("--shard", type=int, default=0, help="run only this part of the test faces (see --num_shards)")
    p.add_argument("--num_shards", type=int, default=1,
                   help="split the test faces into this many parts, e.g. one per machine; then --merge")
    p.add_argument("--merge", action="store_true",
                   help="join the --num_shards parts written to --outDir into the unsharded outputs")
    return p


def add_blend_flag(p):
    p.add_argument("--blend_solver", default=BLEND_SOLVERS[0], choices=BLEND_SOLVERS,
                   help="solver of the Poisson blend: banded Cholesky (fastest), sparse LU or pyamg (the "
                        "original's); the same result")
    return p


def add_precision_flag(p, default, text):
    p.add_argument("--precision", default=default, choices=PRECISIONS, help=text)
    return p


def add_generator_flag(p):
    p.add_argument("--generator", default=GENERATOR_WEIGHTS[0], choices=GENERATOR_WEIGHTS,
                   help="average: the run's average of G's weights where it kept one (main.py --ema_decay), else "
                        "G's own; raw: G's own weights, as the paper")
    return p


def add_distribute_flags(p):
    """The flags of a distributed training run (core/distribute.py), shared by main.py and
    train_encoder.py."""
    p.add_argument("--distribute", default=DISTRIBUTE_MODES[0], choices=DISTRIBUTE_MODES,
                   help="mirrored: every local GPU (or the --virtual_devices); multi_worker: the machines in "
                        "TF_CONFIG. --batch_size is the global batch")
    p.add_argument("--virtual_devices", type=int, default=0, metavar="N",
                   help="split the CPU into N logical devices for --distribute mirrored (tests without a GPU)")
    return p
