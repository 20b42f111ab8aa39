"""Splitting a face collection by identity, so that no person of the test (or validation)
faces is ever seen in training: CelebA's identity_CelebA.txt ("000001.jpg 2880" per line),
or any file of that form.

An identity's split is decided by a hash of (seed, identity) alone, so the same identity
file gives the same split on every machine, whatever subset of its photos is present.
"""
import hashlib
import os

from utils import UserError

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


def split_folder(input_dir, identities_path, output_dir, *, val_fraction=0.05, test_fraction=0.05, seed=0):
    """Link each photo of input_dir into <output_dir>/<split>/images/ by its identity's split
    (symbolic links: the photos are not copied). Photos without an identity are left out and
    counted. Returns {split: count, "no identity": count}."""
    from faces import list_images
    if not 0 <= val_fraction + test_fraction < 1:
        raise UserError(f"--val_fraction {val_fraction} and --test_fraction {test_fraction} must leave some "
                        "identities for training")
    identities = read_identities(identities_path)
    counts = {split: 0 for split in SPLITS} | {"no identity": 0}
    for split in SPLITS:
        os.makedirs(os.path.join(output_dir, split, "images"), exist_ok=True)
    for path in list_images(input_dir):
        name = os.path.basename(path)
        if name not in identities:
            counts["no identity"] += 1
            continue
        split = split_of(identities[name], seed, val_fraction, test_fraction)
        link = os.path.join(output_dir, split, "images", name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.abspath(path), link)
        counts[split] += 1
    return counts
