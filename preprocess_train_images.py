"""Detect faces, draw their keypoint maps and write TFRecord shards for training.

    python preprocess_train_images.py shape_predictor_68_face_landmarks.dat   # photos in data/train/images
    python preprocess_train_images.py --synthetic 2000                        # built-in synthetic faces

Re-running the same command resumes a killed run; --overwrite starts afresh.
"""
from facedata import preprocess
from utils import run_cli


def parse_args(argv=None):
    return preprocess.parser(__doc__.splitlines()[0], "data/train/images", "data/train_records",
                             default_seed=0).parse_args(argv)


def main(args):
    return preprocess.run(preprocess.write_train_records, **vars(args))


if __name__ == "__main__":
    run_cli(main, parse_args)
