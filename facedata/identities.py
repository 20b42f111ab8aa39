"""Splitting a face collection by identity, so that no person of the test (or validation)
faces is ever seen in training: CelebA's identity_CelebA.txt ("000001.jpg 2880" per line),
or any file of that form.

An identity's split is decided by a hash of (seed, identity) alone, so the same identity
file gives the same split on every machine, whatever subset of its photos is present.
Photos may come from several folders holding copies of one collection at different
resolutions: a file name found in more than one keeps its sharpest copy, the one whose
largest face spans the most pixels (dlib's box), so no photo is counted twice.
"""
import hashlib
import os

from utils import UserError, progress_bar, save_json

SPLITS = ("train", "val", "test")


def read_identities(path):
    """{file name: identity} from lines "<file name> <identity>" (a header line without a
    second field, or whose second field is not a number, is skipped)."""
    if not os.path.isfile(path):
        raise UserError(f"identity file {path} not found: pass CelebA's identity_CelebA.txt (or a file of "
                        "'<image name> <identity>' lines) with --identities")
    found = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 2 and fields[1].lstrip("-").isdigit():
                found[fields[0]] = fields[1]
    if not found:
        raise UserError(f"{path} has no '<image name> <identity>' lines: pass CelebA's identity_CelebA.txt")
    return found


def split_of(identity, seed, val_fraction, test_fraction):
    """'train', 'val' or 'test' for one identity, from a hash of (seed, identity)."""
    digest = hashlib.sha256(f"{seed}:{identity}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2 ** 64
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def face_width(path, finder):
    """Pixels across the largest face dlib finds in a photo (0 if none or unreadable): how
    sharp the face of this copy is."""
    from facedata.faces import Skip, load_rgb
    try:
        boxes = finder.boxes(load_rgb(path))
    except Skip:
        return 0
    return max((b[2] - b[0] for b in boxes), default=0)


def sharpest_copies(input_dirs, predictor=None):
    """{file name: path} over all input_dirs; a name in several folders maps to the copy
    whose face is widest (the first folder's on a tie), and {file name: {path: width}} of
    those measured."""
    from facedata.faces import FaceFinder, list_images
    copies = {}
    for folder in input_dirs:
        for path in list_images(folder):
            copies.setdefault(os.path.basename(path), []).append(path)
    shared = {name: paths for name, paths in copies.items() if len(paths) > 1}
    widths = {}
    if shared:
        finder = FaceFinder(predictor)
        for name, paths in progress_bar(shared.items(), total=len(shared), desc="measuring duplicates' faces",
                                        unit="photo"):
            widths[name] = {path: face_width(path, finder) for path in paths}
    chosen = {name: max(paths, key=lambda p: (widths[name][p], -paths.index(p))) if name in shared else paths[0]
              for name, paths in copies.items()}
    return chosen, widths


def split_folder(input_dirs, identities_path, output_dir, *, val_fraction=0.05, test_fraction=0.05, seed=0,
                 predictor=None):
    """Link each photo of input_dirs (one folder or a list) into <output_dir>/<split>/images/
    by its identity's split (symbolic links: the photos are not copied); a file name in
    several folders is linked once, to its sharpest copy (sharpest_copies). Photos without an
    identity are left out and counted. Writes <output_dir>/split.json (the folders, each
    linked photo's copy, the counts). Returns {split: count, "no identity": count,
    "duplicates": names found more than once}."""
    if isinstance(input_dirs, str):
        input_dirs = [input_dirs]
    if not 0 <= val_fraction + test_fraction < 1:
        raise UserError(f"--val_fraction {val_fraction} and --test_fraction {test_fraction} must leave some "
                        "identities for training")
    identities = read_identities(identities_path)
    chosen, widths = sharpest_copies(input_dirs, predictor)
    counts = {split: 0 for split in SPLITS} | {"no identity": 0, "duplicates": len(widths)}
    for split in SPLITS:
        os.makedirs(os.path.join(output_dir, split, "images"), exist_ok=True)
    linked = {}
    for name, path in sorted(chosen.items()):
        if name not in identities:
            counts["no identity"] += 1
            continue
        split = split_of(identities[name], seed, val_fraction, test_fraction)
        link = os.path.join(output_dir, split, "images", name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.abspath(path), link)
        counts[split] += 1
        linked[name] = {"split": split, "copy": os.path.abspath(path)}
    save_json(os.path.join(output_dir, "split.json"),
              {"input_dirs": [os.path.abspath(d) for d in input_dirs], "seed": seed, "val_fraction": val_fraction,
               "test_fraction": test_fraction, "counts": counts, "photos": linked,
               "duplicate_face_widths": widths})
    return counts
