"""Train the keypoint-conditioned GAN, or the authors' DCGAN baseline (--arch dcgan).

    python main.py --batch_size=64 --output_size=128                 # the paper's setting (GPU)
    python main.py --batch_size=64 --output_size=64 --arch dcgan     # the paper's DIP baseline
    python main.py --synthetic 2000 --output_size 32 --gf_dim 16 --df_dim 16 --max_steps 600  # CPU
    python main.py --distribute mirrored --batch_size 256       # every local GPU, global batch 256
    python launch_workers.py --workers 2 main.py --distribute multi_worker   # workers from TF_CONFIG

Writes 8x8 grids of samples and their keypoint maps to samples/celebA/ every
--sampleInterval steps, checkpoints and config.json to --checkpoint_dir every
--saveInterval steps, and TensorBoard scalars to logs/. Re-running the same command resumes
from the last checkpoint; Ctrl-C saves one before exiting.
"""
import argparse
import os

from core.configs import ARCHS, UPSAMPLINGS, ModelConfig, TrainConfig, add_distribute_flags, add_precision_flag
from utils import UserError, run_cli, str2bool


def parse_args(argv=None):
    d, m = TrainConfig(), ModelConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epoch", type=int, default=d.epoch, help="epochs to train")
    p.add_argument("--max_steps", type=int, default=d.max_steps, help="stop after this many steps (0: no limit)")
    p.add_argument("--learning_rate", type=float, default=d.learning_rate, help="Adam's learning rate, G and D")
    p.add_argument("--beta1", type=float, default=d.beta1, help="Adam's beta1, G and D")
    p.add_argument("--batch_size", type=int, default=d.batch_size,
                   help="faces per step (the global batch with --distribute)")
    p.add_argument("--output_size", type=int, default=m.output_size, help="32, 64 or 128")
    p.add_argument("--z_dim", type=int, default=m.z_dim, help="dimensions of the latent z")
    p.add_argument("--gf_dim", type=int, default=m.gf_dim, help="generator width (64 in the paper)")
    p.add_argument("--df_dim", type=int, default=m.df_dim, help="discriminator width (64 in the paper)")
    p.add_argument("--arch", default=m.arch, choices=ARCHS,
                   help="ecgan: the paper's encoder-decoder G; dcgan: the authors' DIP baseline "
                        "(linear z -> 4x4, 3x3 transposed convs; never conditioned)")
    p.add_argument("--deconv_kernel", type=int, default=m.deconv_kernel,
                   help="kernel of G's stride-2 transposed convs; 0: the paper's (ecgan 5, dcgan 3). "
                        "4 overlaps evenly and avoids checkerboard artefacts")
    p.add_argument("--upsample", default=m.upsample, choices=UPSAMPLINGS,
                   help="how G doubles its resolution: transposed (the paper's stride-2 transposed convs) or resize "
                        "(nearest-neighbour x2, then a stride-1 conv of --deconv_kernel: no checkerboard)")
    p.add_argument("--conditional", type=str2bool, nargs="?", const=True, default=m.conditional,
                   help="condition G and D on keypoint maps (ecgan); False gives the ablation "
                        "'same generator without its map'")
    p.add_argument("--dataset", default=d.dataset, help="name of the sample sub-folder")
    p.add_argument("--train_records", default=d.train_records, help="folder of TFRecord shards")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="first write N synthetic training faces to --train_records (resumable)")
    p.add_argument("--checkpoint_dir", default=d.checkpoint_dir,
                   help="checkpoints and config.json; re-running resumes from here")
    p.add_argument("--sample_dir", default=d.sample_dir, help="sample grids go to <sample_dir>/<dataset>/")
    p.add_argument("--log_dir", default=d.log_dir, help="TensorBoard scalars")
    p.add_argument("--sampleInterval", type=int, default=d.sampleInterval, help="steps between sample grids")
    p.add_argument("--saveInterval", type=int, default=d.saveInterval, help="steps between checkpoints")
    p.add_argument("--print_every", type=int, default=d.print_every,
                   help="steps between loss lines (losses are read back from the device only then)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="weights, data order and z: a run is a function of it")
    p.add_argument("--ema_decay", type=float, default=d.ema_decay,
                   help="keep an exponential moving average of G's weights with this decay beside them, used at "
                        "inference unless --generator raw (0: none, as the paper)")
    p.add_argument("--visualize", action="store_true",
                   help="write same_k_diff_z.png and same_z_diff_k.png from the trained model, no training")
    add_precision_flag(p, m.precision, "bfloat16: mixed precision (float32 variables, optimiser state, batch-norm "
                       "statistics, logits and losses; bfloat16 convs and matmuls)")
    p.add_argument("--xla", type=str2bool, nargs="?", const=True, default=d.xla,
                   help="compile the train step with XLA (jit_compile)")
    add_distribute_flags(p)
    return p.parse_args(argv)


def main(args):
    from core.configs import pick
    from core.distribute import make_strategy
    strategy = make_strategy(args.distribute, args.virtual_devices)  # before TensorFlow runs anything
    if args.visualize:
        from paper.figures import visualize
        return visualize(args.checkpoint_dir, args.train_records, os.path.join(args.sample_dir, args.dataset),
                         args.seed)
    if args.synthetic:
        if args.distribute == "multi_worker":
            raise UserError("--synthetic with --distribute multi_worker would have every worker write the records: "
                            "write them first (python preprocess_train_images.py --synthetic N), then train")
        from facedata import preprocess
        preprocess.run(preprocess.write_train_records, output_dir=args.train_records, synthetic=args.synthetic,
                       seed=args.seed, size=max(args.output_size, 64))
    from training.loop import GANTrainer
    return GANTrainer(pick(ModelConfig, vars(args)), pick(TrainConfig, vars(args)), strategy).run()


if __name__ == "__main__":
    run_cli(main, parse_args)
