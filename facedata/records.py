"""The TFRecord schema of the training data: one definition for the writer and the reader.

Keys are the original's (`image_raw`, `landmark_raw` as raw uint8 H x W x 3 bytes, and
their int64 sizes), so shards written by the original stay readable. We add `landmarks`
(the 68 (x, y) points in crop pixels, flattened) and `source` (the file the face came from).
"""
import glob
import os

import numpy as np

from utils import UserError

SHARD_SIZE = 10_000
SHARD_PATTERN = "train_{:05d}.tfrecords"


def _tf():
    from core.tfstart import tf  # imported late: preprocessing workers do not need it
    return tf


def encode_example(image, keypoint_map, landmarks, source):
    """Serialise one face: uint8 [H, W, 3] image and map, [68, 2] landmarks, source name."""
    tf = _tf()
    image = np.ascontiguousarray(image, dtype=np.uint8)
    keypoint_map = np.ascontiguousarray(keypoint_map, dtype=np.uint8)

    def ints(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    def raw(b):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[b]))

    feature = {
        "image_raw": raw(image.tobytes()),
        "landmark_raw": raw(keypoint_map.tobytes()),
        "height": ints(image.shape[0]), "width": ints(image.shape[1]), "depth": ints(image.shape[2]),
        "landmark_height": ints(keypoint_map.shape[0]), "landmark_width": ints(keypoint_map.shape[1]),
        "landmark_depth": ints(keypoint_map.shape[2]),
        "landmarks": tf.train.Feature(float_list=tf.train.FloatList(
            value=np.asarray(landmarks, np.float32).reshape(-1).tolist())),
        "source": raw(str(source).encode("utf-8")),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_example(serialized):
    """Parse one serialised example into a dict of tensors (uint8 image and keypoint_map)."""
    tf = _tf()
    int64 = tf.io.FixedLenFeature([], tf.int64)
    spec = {
        "image_raw": tf.io.FixedLenFeature([], tf.string),
        "landmark_raw": tf.io.FixedLenFeature([], tf.string),
        "height": int64, "width": int64, "depth": int64,
        "landmark_height": int64, "landmark_width": int64, "landmark_depth": int64,
        "landmarks": tf.io.FixedLenFeature([136], tf.float32, default_value=[0.0] * 136),
        "source": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    f = tf.io.parse_single_example(serialized, spec)
    image = tf.reshape(tf.io.decode_raw(f["image_raw"], tf.uint8), [f["height"], f["width"], f["depth"]])
    keypoint_map = tf.reshape(tf.io.decode_raw(f["landmark_raw"], tf.uint8),
                              [f["landmark_height"], f["landmark_width"], f["landmark_depth"]])
    return {"image": image, "keypoint_map": keypoint_map,
            "landmarks": tf.reshape(f["landmarks"], [68, 2]), "source": f["source"]}


def shard_files(records_dir):
    """The finished shards of a folder, in order. Raises UserError if there are none."""
    files = sorted(glob.glob(os.path.join(records_dir, "*.tfrecords")))
    if not files:
        raise UserError(f"no TFRecord shards (*.tfrecords) in {records_dir}: run "
                        "`python preprocess_train_images.py` first (or add --synthetic 2000)")
    return files


def read_records(records_dir):
    """Iterate all examples of a folder as numpy dicts (for tests and small tools)."""
    tf = _tf()
    for serialized in tf.data.TFRecordDataset(shard_files(records_dir)):
        yield {k: v.numpy() for k, v in parse_example(serialized).items()}


def record_size(records_dir):
    """(height, width) of the first example of a folder."""
    example = next(read_records(records_dir))
    return tuple(example["image"].shape[:2])


class ShardWriter:
    """Writes examples to numbered shards of up to `shard_size`, each under a temporary name
    until it is complete and closed, so a killed run never leaves half a shard."""

    def __init__(self, out_dir, first_shard=0, shard_size=SHARD_SIZE):
        self.out_dir, self.index, self.shard_size = out_dir, first_shard, shard_size
        self.count, self._writer, self._tmp = 0, None, None
        os.makedirs(out_dir, exist_ok=True)

    def room(self):
        return self.shard_size - self.count

    def write(self, serialized):
        if self._writer is None:
            self._tmp = os.path.join(self.out_dir, SHARD_PATTERN.format(self.index) + ".tmp")
            self._writer = _tf().io.TFRecordWriter(self._tmp)
        self._writer.write(serialized)
        self.count += 1

    def close(self):
        """Finish the current shard (if any) and rename it into place. Returns True if one was."""
        if self._writer is None:
            return False
        self._writer.close()
        os.replace(self._tmp, os.path.join(self.out_dir, SHARD_PATTERN.format(self.index)))
        self._writer, self.count = None, 0
        self.index += 1
        return True

    def abandon(self):
        if self._writer is not None:
            self._writer.close()
            os.remove(self._tmp)
            self._writer, self.count = None, 0
