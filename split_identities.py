"""Split a folder of photos into train / val / test by identity (no person in two splits),
as symbolic links that the preprocess commands then read.

    python split_identities.py --input_dir ~/celeba/img_align_celeba --identities ~/celeba/identity_CelebA.txt
    python preprocess_train_images.py                                  # data/train/images -> records
    python preprocess_test_images.py                                   # data/test/images  -> test pairs
    python preprocess_test_images.py --input_dir data/val/images --output_dir data/val_images

Each identity's split is a function of --seed and the identity alone (docs/data.md).
"""
import argparse

from identities import split_folder
from utils import run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input_dir", required=True, help="folder of photos (searched recursively)")
    p.add_argument("--identities", required=True, help="CelebA's identity_CelebA.txt, or '<image name> <identity>' lines")
    p.add_argument("--output_dir", default="data", help="links go to <output_dir>/{train,val,test}/images/")
    p.add_argument("--val_fraction", type=float, default=0.05, help="share of identities for validation")
    p.add_argument("--test_fraction", type=float, default=0.05, help="share of identities for testing")
    p.add_argument("--seed", type=int, default=0, help="which identities go where")
    return p.parse_args(argv)


def main(args):
    counts = split_folder(args.input_dir, args.identities, args.output_dir, val_fraction=args.val_fraction,
                          test_fraction=args.test_fraction, seed=args.seed)
    print(", ".join(f"{n} {split}" for split, n in counts.items()) + f" photos, linked under {args.output_dir}/")
    return counts


if __name__ == "__main__":
    run_cli(main, parse_args)
