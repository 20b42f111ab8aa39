"""Split a folder of photos into train / val / test by identity (no person in two splits),
as symbolic links that the preprocess commands then read.

    python split_identities.py --input_dir ~/celeba/img_align_celeba --identities ~/celeba/identity_CelebA.txt
    python split_identities.py --input_dir celeba_a celeba_b --identities identity_CelebA.txt   # sharpest copy of each
    python preprocess_train_images.py                                  # data/train/images -> records
    python preprocess_test_images.py                                   # data/test/images  -> test pairs
    python preprocess_test_images.py --input_dir data/val/images --output_dir data/val_images

Each identity's split is a function of --seed and the identity alone (docs/data.md).
"""
import argparse

from facedata.identities import SPLITS, split_folder
from utils import run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input_dir", required=True, nargs="+", action="extend",
                   help="folder(s) of photos (searched recursively); a file name in several folders is "
                        "taken once, from the copy whose face is widest")
    p.add_argument("--identities", required=True, help="CelebA's identity_CelebA.txt, or '<image name> <identity>' lines")
    p.add_argument("--output_dir", default="data", help="links go to <output_dir>/{train,val,test}/images/")
    p.add_argument("--val_fraction", type=float, default=0.05, help="share of identities for validation")
    p.add_argument("--test_fraction", type=float, default=0.05, help="share of identities for testing")
    p.add_argument("--seed", type=int, default=0, help="which identities go where")
    p.add_argument("--predictor", default=None,
                   help="shape_predictor_68_face_landmarks.dat for measuring duplicates' faces (default: the one "
                        "installed by face_recognition_models)")
    return p.parse_args(argv)


def main(args):
    counts = split_folder(args.input_dir, args.identities, args.output_dir, val_fraction=args.val_fraction,
                          test_fraction=args.test_fraction, seed=args.seed, predictor=args.predictor)
    print(", ".join(f"{counts[split]} {split}" for split in SPLITS) + f" photos linked under {args.output_dir}/; "
          f"{counts['no identity']} without an identity left out; {counts['duplicates']} found in several folders, "
          "each taken once (split.json lists the copy taken)")
    return counts


if __name__ == "__main__":
    run_cli(main, parse_args)
