"""tf.data input pipelines: training batches from TFRecord shards, test pairs from PNGs.

Training batches leave here as uint8 [B, S, S, 3] (the train steps make them [-1, 1]);
everything else as float32 in [-1, 1]. A training run on N replicas reads the same global
batches as one device and splits each by rows (`replicas`), so the run is a function of its
seed, not of how many devices or machines train it.
"""
import functools
import json
import os

import numpy as np
from PIL import Image

from core.tfstart import tf
from facedata import records
from ops import to_model_range
from utils import UserError, from_uint8

SHUFFLE_BUFFER = 10_000


def _decoder(records_dir, output_size, to_float=True):
    """serialized example -> (image, keypoint_map) [S, S, 3]: float32 in [-1, 1], or with
    to_float=False uint8. Records of another size are resized (area for the photo, rounded
    back to 8 bits for uint8; nearest for the map, whose colours must stay exact); records
    of this size are only cast. The size is read from the records here: inside tf.data's map
    the decoded shapes are unknown, so it cannot be decided there."""
    resize = records.record_size(records_dir)[0] != output_size

    def decode(serialized):
        example = records.parse_example(serialized)
        image, keypoint_map = example["image"], example["keypoint_map"]
        if resize:
            image = tf.image.resize(tf.cast(image, tf.float32), [output_size, output_size], method="area")
            image = image if to_float else tf.cast(tf.round(image), tf.uint8)
            keypoint_map = tf.image.resize(keypoint_map, [output_size, output_size], method="nearest")
        if to_float:
            image, keypoint_map = to_model_range(image), to_model_range(keypoint_map)
        image.set_shape([output_size, output_size, 3])
        keypoint_map.set_shape([output_size, output_size, 3])
        return image, keypoint_map
    return decode


def check_record_size(records_dir, output_size):
    """Records must be at least output_size (64 is made from the 128 records, as the original)."""
    height, width = records.record_size(records_dir)
    if height != width or height < output_size:
        raise UserError(f"records in {records_dir} are {height}x{width}, smaller than --output_size "
                        f"{output_size}: re-run preprocess_train_images.py with --size {output_size} "
                        "(or --overwrite and another --output_dir)")
    return height


def count_records(records_dir):
    """Number of faces: from the preprocessing summary when there is one, else counted."""
    progress = os.path.join(records_dir, "progress.json")
    if os.path.exists(progress):
        with open(progress) as f:
            state = json.load(f)
        if state.get("complete"):
            return state["summary"]["faces"]
    return int(sum(1 for _ in tf.data.TFRecordDataset(records.shard_files(records_dir))))


def train_batches(records_dir, output_size, batch_size, seed, epoch, skip_batches=0, replicas=(0, 1, 1),
                  in_memory=None):
    """One epoch of shuffled full batches of uint8 (image, keypoint_map); the shuffle depends
    on (seed, epoch) only, so a resumed run sees the batches it would have seen, skipping
    those it already trained on.

    replicas=(first, local, total): for training on `total` replicas, each global batch of
    batch_size is cut into `total` equal blocks of rows and the blocks of replicas first ..
    first + local - 1 (one worker's) are yielded in turn, one batch each; a worker decodes
    only its own rows. Records that fit in IN_MEMORY_BYTES once decoded are decoded once
    per process and kept (on 2 cores, decoding every epoch took a tenth of a small model's
    step); in_memory=False streams them whatever their size."""
    files = records.shard_files(records_dir)
    decoded = None
    if in_memory is not False:
        decoded = _decoded_in_memory(records_dir, output_size, tuple((f, os.path.getmtime(f)) for f in files))
    if decoded is not None:
        ds = tf.data.Dataset.from_tensor_slices(decoded)
    else:
        ds = interleaved_shards(files, seed * 100_003 + epoch)
    ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed * 100_003 + epoch, reshuffle_each_iteration=False)
    ds = ds.skip(skip_batches * batch_size)  # when streaming, skipped before decoding: cheap
    first, local, total = replicas
    if total > 1:
        rows = batch_size // total
        ds = ds.batch(batch_size, drop_remainder=True).map(
            lambda *batch: tuple(t[first * rows:(first + local) * rows] for t in batch)).unbatch()
        batch_size = rows
    if decoded is None:
        ds = ds.map(_decoder(records_dir, output_size, to_float=False), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


IN_MEMORY_BYTES = 1 << 30
INTERLEAVED_SHARDS = 16  # shards read at once when streaming, one record from each in turn


def interleaved_shards(files, seed):
    """The serialized records of `files` for one streamed epoch: the shards in an order drawn
    from `seed`, INTERLEAVED_SHARDS of them read at once, one record from each in turn. The
    shuffle buffer after it holds SHUFFLE_BUFFER records, a shard's worth; a set of many
    shards read in one fixed order would mix only neighbouring shards, the same way every
    epoch. Deterministic: the same seed gives the same records in the same order."""
    order = np.random.default_rng(seed).permutation(len(files))
    names = tf.data.Dataset.from_tensor_slices([files[i] for i in order])
    return names.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), INTERLEAVED_SHARDS), block_length=1,
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@functools.lru_cache(maxsize=2)
def _decoded_in_memory(records_dir, output_size, shard_stamps):
    """(images, keypoint_maps) of every record as uint8 arrays, or None when they would
    take more than IN_MEMORY_BYTES. shard_stamps (names, mtimes) key the cache, so records
    rewritten in place are decoded again."""
    if count_records(records_dir) * 2 * output_size * output_size * 3 > IN_MEMORY_BYTES:
        return None
    ds = tf.data.TFRecordDataset([f for f, _ in shard_stamps])
    ds = ds.map(_decoder(records_dir, output_size, to_float=False), num_parallel_calls=tf.data.AUTOTUNE).batch(4096)
    parts = [(x.numpy(), k.numpy()) for x, k in ds]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def mean_face(records_dir, output_size, limit=10_000):
    """The mean of the first `limit` training faces, [S, S, 3] in [-1, 1]."""
    ds = tf.data.TFRecordDataset(records.shard_files(records_dir)).take(limit)
    decode = _decoder(records_dir, output_size)
    ds = ds.map(lambda s: decode(s)[0], num_parallel_calls=tf.data.AUTOTUNE)
    total, count = ds.batch(256).reduce((tf.zeros([output_size, output_size, 3]), 0),
                                        lambda acc, b: (acc[0] + tf.reduce_sum(b, 0), acc[1] + tf.shape(b)[0]))
    return (total / tf.cast(count, tf.float32)).numpy()


def record_landmarks(records_dir):
    """The 68 landmarks of every training face, [N, 68, 2] in pixels of the records' crops,
    and the crop size. Records written before landmarks were stored hold zeros: refused."""
    ds = tf.data.TFRecordDataset(records.shard_files(records_dir))
    ds = ds.map(lambda s: records.parse_example(s)["landmarks"], num_parallel_calls=tf.data.AUTOTUNE)
    landmarks = np.concatenate([b.numpy() for b in ds.batch(4096)])
    if not np.abs(landmarks).sum(axis=(1, 2)).all():
        raise UserError(f"records in {records_dir} hold no landmarks (written by the original's preprocessing?): "
                        "re-run preprocess_train_images.py")
    return landmarks, records.record_size(records_dir)[0]


def first_examples(records_dir, output_size, count, to_float=True):
    """The first `count` faces of the records, unshuffled (fixed inputs for sample grids):
    (images, keypoint_maps), float32 in [-1, 1] or with to_float=False uint8."""
    ds = tf.data.TFRecordDataset(records.shard_files(records_dir)).take(count)
    ds = ds.map(_decoder(records_dir, output_size, to_float)).batch(count)
    images, keypoint_maps = next(iter(ds))
    return images, keypoint_maps


def load_test_pairs(folder, output_size, limit=None):
    """Test faces as float arrays: (images, keypoint_maps, names). Reads manifest.json when
    present (preprocess_test_images.py writes it), else every img{N}.png with its ky{N}.png."""
    manifest = os.path.join(folder, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            names = [(e["image"], e["keypoint_map"]) for e in json.load(f)["faces"]]
    elif os.path.isdir(folder):
        numbers = sorted(int(n[3:-4]) for n in os.listdir(folder)
                         if n.startswith("img") and n.endswith(".png") and n[3:-4].isdigit())
        names = [(f"img{n}.png", f"ky{n}.png") for n in numbers]
    else:
        names = []
    if not names:
        raise UserError(f"no test pairs (img{{N}}.png + ky{{N}}.png) in {folder}: run "
                        "`python preprocess_test_images.py` (or add --synthetic 256)")
    names = names[:limit] if limit else names
    images, maps = [], []
    for image_name, map_name in names:
        pair = []
        for name in (image_name, map_name):
            path = os.path.join(folder, name)
            try:
                with Image.open(path) as im:
                    im = im.convert("RGB")
                    if im.size != (output_size, output_size):
                        # Maps keep exact colours only under nearest-neighbour resizing.
                        method = Image.Resampling.NEAREST if name == map_name else Image.Resampling.BOX
                        if im.size[0] < output_size:
                            raise UserError(f"{path} is {im.size[0]}x{im.size[1]}, smaller than "
                                            f"--output_size {output_size}: preprocess with --size {output_size}")
                        im = im.resize((output_size, output_size), method)
                    pair.append(from_uint8(np.asarray(im)))
            except (OSError, SyntaxError) as error:
                raise UserError(f"cannot read test image {path} ({error}): re-run preprocess_test_images.py")
        images.append(pair[0])
        maps.append(pair[1])
    return np.stack(images), np.stack(maps), [n for n, _ in names]


def load_test_masks(folder, output_size, limit=None):
    """[N, S, S] masks (1 = known) of test pairs made from damaged photos (manifest entries
    with a mask{N}.png), or None for pairs of undamaged faces."""
    manifest = os.path.join(folder, "manifest.json")
    if not os.path.exists(manifest):
        return None
    with open(manifest) as f:
        faces = json.load(f)["faces"]
    faces = faces[:limit] if limit else faces
    if not faces or "mask" not in faces[0]:
        return None
    masks = []
    for face in faces:
        path = os.path.join(folder, face["mask"])
        try:
            with Image.open(path) as im:
                im = im.convert("L").resize((output_size, output_size), Image.Resampling.NEAREST)
                masks.append((np.asarray(im) > 127).astype(np.float32))
        except OSError as error:
            raise UserError(f"cannot read test mask {path} ({error}): re-run preprocess_test_images.py --mask_dir")
    return np.stack(masks)


def epoch_iterators(records_dir, output_size, batch_size, seed, start_step, total_steps, steps_per_epoch,
                    distribute=None):
    """(iterator, steps) for each epoch that steps start_step .. total_steps - 1 fall in: the
    epoch's batches from where the run stands, shuffled by (seed, epoch), and how many of
    them to train on. A run resumed at any step sees the batches it would have seen.
    distribute(make_dataset) -> an iterable of the step's inputs, where make_dataset(replicas)
    is train_batches for those replicas: how a strategy gets them (core/distribute.py); by
    default one device's batches."""
    inputs = distribute or (lambda make_dataset: make_dataset((0, 1, 1)))
    step = start_step
    while step < total_steps:
        epoch, done = divmod(step, steps_per_epoch)
        count = min(steps_per_epoch - done, total_steps - step)

        def make_dataset(replicas, epoch=epoch, done=done):
            return train_batches(records_dir, output_size, batch_size, seed, epoch, done, replicas)
        yield iter(inputs(make_dataset)), count
        step += count
