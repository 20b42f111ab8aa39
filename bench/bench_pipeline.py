"""Training input pipeline throughput: uint8 batches per second from TFRecords, per core.

    python bench/bench_pipeline.py --faces 1024 --epochs 3

Times dataset.train_batches (read, parse, shuffle, batch; resize where the records are
larger than the model) at 64 and 128, streamed from the records and from the in-memory
copy a small set gets, and prints images/s and images/s per core (tf.data spreads the
work over every core). For scale: a train step at 64x64, batch 64 and the paper's widths
on a GPU takes a few milliseconds, so the pipeline must deliver thousands of images/s.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from facedata import dataset  # noqa: E402
from facedata import preprocess  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--faces", type=int, default=1024, help="synthetic faces written to the records")
    p.add_argument("--epochs", type=int, default=3, help="epochs read per case (the first counts too)")
    p.add_argument("--batch_size", type=int, default=64, help="faces per batch")
    return p.parse_args(argv)


def images_per_second(records, size, batch_size, epochs, in_memory):
    """Images per second over `epochs` epochs of train_batches, batches pulled to numpy."""
    dataset.train_batches(records, size, batch_size, 0, 0, in_memory=in_memory)  # the in-memory copy, if any
    start, count = time.perf_counter(), 0
    for epoch in range(epochs):
        for images, keypoint_maps in dataset.train_batches(records, size, batch_size, 0, epoch, in_memory=in_memory):
            images.numpy(), keypoint_maps.numpy()
            count += images.shape[0]
    return count / (time.perf_counter() - start)


def measure(faces, epochs, batch_size):
    """[(model size, records size, "streamed" or "in memory", images/s, images/s per core)]."""
    cores = os.cpu_count()
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for records_size in (64, 128):
            preprocess.run(preprocess.write_train_records, output_dir=os.path.join(root, f"records{records_size}"),
                           synthetic=faces, size=records_size, processes=cores)
        for size, records_size in ((64, 64), (64, 128), (128, 128)):
            for in_memory in (False, True):
                rate = images_per_second(os.path.join(root, f"records{records_size}"), size, batch_size, epochs,
                                         in_memory)
                rows.append((size, records_size, "in memory" if in_memory else "streamed", rate, rate / cores))
    return rows


def main(args):
    rows = measure(args.faces, args.epochs, args.batch_size)
    print(f"{args.faces} faces, batch {args.batch_size}, {os.cpu_count()} cores")
    for size, records_size, how, rate, per_core in rows:
        print(f"{size:4d} px from {records_size:3d} px records, {how:9s}: {rate:8.0f} images/s, "
              f"{per_core:7.0f} per core")
    return rows


if __name__ == "__main__":
    main(parse_args())
