"""Train the learned latent initialiser for a trained GAN (G and D stay frozen).

    python train_encoder.py --checkpoint_dir checkpoints --steps 5000
    python complete.py --z_init encoder --nIter 100          # then start the search from E(x)

Saves <checkpoint_dir>/encoder/ (checkpoints every --saveInterval steps, at the end and on
Ctrl-C, and encoder.json); re-running resumes where the run stopped, mid-epoch.
"""
import argparse

from core.configs import EncoderTrainConfig, add_distribute_flags, add_generator_flag, add_precision_flag, pick
from utils import run_cli


def parse_args(argv=None):
    d = EncoderTrainConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint_dir", default=d.checkpoint_dir, help="the trained GAN")
    p.add_argument("--train_records", default=d.train_records, help="folder of TFRecord shards (main.py's)")
    p.add_argument("--steps", type=int, default=d.steps, help="training steps in all (a re-run resumes)")
    p.add_argument("--batch_size", type=int, default=d.batch_size, help="faces per step (global with --distribute)")
    p.add_argument("--ef_dim", type=int, default=d.ef_dim, help="encoder width (0: the model's df_dim)")
    p.add_argument("--learning_rate", type=float, default=d.learning_rate, help="Adam's learning rate")
    p.add_argument("--lam", type=float, default=d.lam, help="weight of the prior (GAN) loss of E's guess")
    p.add_argument("--l2_weight", type=float, default=d.l2_weight, help="weight of the whole-face L2 term")
    add_precision_flag(p, d.precision, "bfloat16: mixed precision for the encoder and the frozen G and D")
    add_generator_flag(p)
    p.add_argument("--saveInterval", type=int, default=d.saveInterval, help="steps between checkpoints")
    p.add_argument("--print_every", type=int, default=d.print_every, help="steps between loss lines")
    p.add_argument("--seed", type=int, default=d.seed, help="weights and data order")
    add_distribute_flags(p)
    return p.parse_args(argv)


def main(args):
    from inpainting.encoder import train_encoder
    return train_encoder(pick(EncoderTrainConfig, vars(args)))


if __name__ == "__main__":
    run_cli(main, parse_args)
