"""Detect faces, draw their keypoint maps and write test pairs (img{N}.png, ky{N}.png).

    python preprocess_test_images.py shape_predictor_68_face_landmarks.dat    # photos in data/test/images
    python preprocess_test_images.py --synthetic 256                          # built-in synthetic faces
    python preprocess_test_images.py --input_dir damaged/ --mask_dir masks/   # photos that came damaged

manifest.json in the output folder maps each N to its source file, face box and landmarks.
With --mask_dir the photos are damaged (each mask, named as its photo, white = keep): the
face the holes reach into is taken, its keypoint map is drawn from the landmarks dlib finds
clear of the holes and the others estimated (docs/inpainting.md), and mask{N}.png holds its
holes; complete.py inpaints such pairs under their own masks.
"""
from facedata import preprocess
from utils import run_cli


def parse_args(argv=None):
    # Seed 1 by default, so synthetic test faces differ from the training faces (seed 0).
    p = preprocess.parser(__doc__.splitlines()[0], "data/test/images", "data/test_images", default_seed=1)
    p.add_argument("--mask_dir", default=None,
                   help="the photos came damaged: their masks (white = keep, black = the damage), each named as its "
                        "photo, in this folder")
    return p.parse_args(argv)


def main(args):
    damaged = None
    if args.mask_dir:
        from inpainting.photo import damaged_face_job, init_damaged_worker
        damaged = (damaged_face_job, init_damaged_worker)
    return preprocess.run(preprocess.write_test_pairs, damaged=damaged, **vars(args))


if __name__ == "__main__":
    run_cli(main, parse_args)
