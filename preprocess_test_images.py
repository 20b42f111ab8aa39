"""Detect faces, draw their keypoint maps and write test pairs (img{N}.png, ky{N}.png).

    python preprocess_test_images.py shape_predictor_68_face_landmarks.dat    # photos in data/test/images
    python preprocess_test_images.py --synthetic 256                          # built-in synthetic faces

manifest.json in the output folder maps each N to its source file, face box and landmarks.
"""
from facedata import preprocess
from utils import run_cli


def parse_args(argv=None):
    # Seed 1 by default, so synthetic test faces differ from the training faces (seed 0).
    return preprocess.parser(__doc__.splitlines()[0], "data/test/images", "data/test_images",
                             default_seed=1).parse_args(argv)


def main(args):
    return preprocess.run(preprocess.write_test_pairs, **vars(args))


if __name__ == "__main__":
    run_cli(main, parse_args)
