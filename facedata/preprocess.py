"""The preprocessing pipeline shared by preprocess_train_images.py and preprocess_test_images.py.

Sources (photo files, or indices of synthetic faces) are turned into `Face`s by worker
processes (dlib holds the GIL, so processes, not threads), in input order, and handed to a
writer: TFRecord shards for training, PNG pairs and a manifest for testing. Both writers
record how far they got, so re-running a killed command resumes instead of starting over.
"""
import argparse
import hashlib
import glob
import json
import multiprocessing
import os
import time
from collections import Counter

import numpy as np
from tqdm import tqdm

from facedata import records
from facedata.faces import IMAGE_EXTENSIONS, Face, FaceFinder, Skip, list_images
from facedata.synthetic import synthetic_face
from utils import UserError, image_grid, save_image, save_json

PROGRESS_EVERY = 64  # test writer: sources between manifest saves


# ---------------------------------------------------------------- sources and workers

_finder = None


def _init_photo_worker(predictor_path, size):
    global _finder
    _finder = FaceFinder(predictor_path, size)


def _photo_job(path):
    try:
        return path, _finder.faces_in_file(path), None
    except Skip as skip:
        return path, [], skip
    except Exception as error:  # dlib or Pillow failing on one odd file must not end the run
        return path, [], Skip("error", f"{type(error).__name__}: {error}")


def _synthetic_job(job):
    seed, index, size = job
    image, keypoint_map, landmarks = synthetic_face(seed, index, size)
    name = f"synthetic:{seed}:{index}"
    box = (0, 0, size, size)
    return name, [Face(image, keypoint_map, landmarks.astype(np.float32), box, name)], None


def mask_file(mask_dir, relative):
    """The mask of the photo at `relative` (to the input folder): the image of the same path
    and name in mask_dir, any image extension, PNG first (a path that does not exist if none)."""
    stem = os.path.splitext(relative)[0]
    for extension in (".png",) + IMAGE_EXTENSIONS:
        path = os.path.join(mask_dir, stem + extension)
        if os.path.exists(path):
            return path
    return os.path.join(mask_dir, stem + ".png")


class Sources:
    """What to preprocess: a list of jobs, the function and worker set-up that run them,
    and a key that identifies the inputs (a resumed run must have the same). Photos under
    input_dir (searched recursively), or `synthetic` synthetic faces of a seed."""

    def __init__(self, size, synthetic=0, seed=0, input_dir=None, predictor=None, mask_dir=None, damaged=None):
        self.size = size
        if mask_dir:
            # Damaged photos, each with its mask: the jobs are (photo, mask) and the worker is the
            # caller's (inpainting.photo.damaged_face_job: the face and its landmarks from what is seen).
            FaceFinder(predictor, size)
            photos = list_images(input_dir)
            self.jobs = [(p, mask_file(mask_dir, os.path.relpath(p, input_dir))) for p in photos]
            (self.job_fn, self.init), self.init_args = damaged, (predictor, size)
            identity = ["damaged photos", os.path.abspath(input_dir), os.path.abspath(mask_dir),
                        [os.path.relpath(p, input_dir) for p in photos], size]
            self.description = f"{len(self.jobs)} damaged images in {input_dir} with their masks in {mask_dir}"
        elif synthetic:
            self.jobs = [(seed, i, size) for i in range(synthetic)]
            self.job_fn, self.init, self.init_args = _synthetic_job, None, ()
            identity = ["synthetic", seed, synthetic, size]
            self.description = f"{synthetic} synthetic faces (seed {seed})"
        else:
            FaceFinder(predictor, size)  # fail here, once, if dlib or the model is missing
            self.jobs = list_images(input_dir)
            self.job_fn, self.init = _photo_job, _init_photo_worker
            self.init_args = (predictor, size)
            relative = [os.path.relpath(p, input_dir) for p in self.jobs]
            identity = ["photos", os.path.abspath(input_dir), relative, size]
            self.description = f"{len(self.jobs)} images in {input_dir}"
        self.key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]

    def run(self, start, processes):
        """Yield (source, faces, skip) for jobs[start:], in order, noting when each result
        arrived (for the start-up and steady-state throughput)."""
        self.started, self.arrivals = time.perf_counter(), []
        for result in self._results(start, processes):
            self.arrivals.append(time.perf_counter())
            yield result

    def throughput(self):
        """(seconds to the first result, results per second from the first quarter of the
        results to the last), or None with fewer than 8 results. Measured from a quarter in,
        past the workers' start and their first chunks, whose results arrive in a burst."""
        arrivals = getattr(self, "arrivals", [])
        if len(arrivals) < 8:
            return None
        quarter = len(arrivals) // 4
        return arrivals[0] - self.started, (len(arrivals) - 1 - quarter) / max(arrivals[-1] - arrivals[quarter], 1e-9)

    def _results(self, start, processes):
        jobs = self.jobs[start:]
        if processes <= 1 or len(jobs) < 2:
            if self.init:
                self.init(*self.init_args)
            yield from map(self.job_fn, jobs)
            return
        # spawn: workers must not inherit TensorFlow's threads from the parent.
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes, initializer=self.init, initargs=self.init_args) as pool:
            yield from pool.imap(self.job_fn, jobs, chunksize=max(1, min(16, len(jobs) // (8 * processes))))


# ---------------------------------------------------------------- summary

class Summary:
    def __init__(self, state=None):
        state = state or {}
        self.images = state.get("images", 0)
        self.with_faces = state.get("with_faces", 0)
        self.faces = state.get("faces", 0)
        self.skipped = Counter(state.get("skipped", {}))

    def add(self, faces, skip):
        self.images += 1
        if skip is not None:
            self.skipped[skip.reason] += 1
        else:
            self.with_faces += 1
            self.faces += len(faces)

    def state(self):
        return {"images": self.images, "with_faces": self.with_faces, "faces": self.faces,
                "skipped": dict(self.skipped)}

    def line(self):
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        return (f"{self.images} images: {self.with_faces} with faces, {self.faces} faces written; "
                f"{skipped} skipped{' (' + reasons + ')' if skipped else ''}")


def _progress_bar(total, initial, description):
    return tqdm(total=total, initial=initial, desc=description, unit="img", dynamic_ncols=True,
                disable=None)


def _account(bar, summary, shown, source, faces, skip):
    """Book one finished source: counts, a line for a skip, faces for the preview, the bar."""
    summary.add(faces, skip)
    if skip is not None:
        bar.write(f"skipped {source}: {skip}")
    if len(shown) < 16:
        shown.extend(faces)
    bar.update(1)


def _preview(out_dir, faces):
    """A grid of the first faces beside their keypoint maps, to look at what was written."""
    if faces:
        pairs = [np.concatenate([f.image, f.keypoint_map], axis=1) for f in faces[:16]]
        save_image(os.path.join(out_dir, "preview.png"), image_grid(np.stack(pairs), rows=4))


class OtherInputs(UserError):
    """The output folder holds the output of other inputs or settings (kept, never overwritten)."""


def _load_state(path, key, overwrite, out_dir):
    """Progress of an earlier run into out_dir, or None to start afresh."""
    if overwrite or not os.path.exists(path):
        return None
    with open(path) as f:
        state = json.load(f)
    if state.get("key") != key:
        raise OtherInputs(f"{out_dir} holds output of other inputs or settings: pass --overwrite "
                          "to replace it, or choose another --output_dir")
    return state


# ---------------------------------------------------------------- writers

def write_train_records(sources, out_dir, processes, overwrite=False, shard_size=records.SHARD_SIZE):
    """Write the faces of `sources` as TFRecord shards in out_dir. Returns the Summary.

    progress.json is saved after each finished shard; a killed run loses at most the shard
    in progress (a .tmp file, removed on the next run) and resumes from there.
    """
    os.makedirs(out_dir, exist_ok=True)
    progress_path = os.path.join(out_dir, "progress.json")
    for stale in glob.glob(os.path.join(out_dir, "*.tmp")):
        os.remove(stale)
    state = _load_state(progress_path, sources.key, overwrite, out_dir)
    if state is None:
        for old in glob.glob(os.path.join(out_dir, "*.tfrecords")) + [progress_path]:
            if os.path.exists(old):
                os.remove(old)
        state = {"key": sources.key, "sources_done": 0, "shards": 0, "complete": False}
    summary = Summary(state.get("summary"))
    if state["complete"]:
        print(f"{out_dir} is already complete ({summary.line()}); --overwrite to redo it")
        return summary
    if state["sources_done"]:
        print(f"resuming after {state['sources_done']} of {len(sources.jobs)} sources")

    writer = records.ShardWriter(out_dir, first_shard=state["shards"], shard_size=shard_size)
    pending = Summary(summary.state())  # counts including the shard being written
    done, shown = state["sources_done"], []

    def checkpoint(complete=False):
        state.update(sources_done=done, shards=writer.index, complete=complete, summary=summary.state())
        save_json(progress_path, state)

    bar = _progress_bar(len(sources.jobs), done, "faces -> tfrecords")
    try:
        for source, faces, skip in sources.run(done, processes):
            if faces and writer.room() < len(faces) and writer.close():
                summary = Summary(pending.state())  # all sources before this one are in shards
                checkpoint()
            for face in faces:
                writer.write(records.encode_example(face.image, face.keypoint_map, face.landmarks, source))
            _account(bar, pending, shown, source, faces, skip)
            done += 1
        writer.close()
        summary = pending
        checkpoint(complete=True)
    except KeyboardInterrupt:
        raise UserError(f"interrupted: {state['shards']} shards kept in {out_dir}; run the same "
                        "command again to resume")
    finally:
        writer.abandon()
        bar.close()
    _preview(out_dir, shown)
    return summary


def write_test_pairs(sources, out_dir, processes, overwrite=False):
    """Write each face as img{N}.png and ky{N}.png (N counts faces, so several faces of one
    photo never overwrite each other), a damaged photo's face also its mask{N}.png, and
    manifest.json mapping N to its source, box and landmarks. Returns the Summary."""
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, "manifest.json")
    state = _load_state(manifest_path, sources.key, overwrite, out_dir)
    if state is None:
        for old in [f for pattern in ("img*.png", "ky*.png", "mask*.png")
                    for f in glob.glob(os.path.join(out_dir, pattern))]:
            os.remove(old)
        state = {"key": sources.key, "sources_done": 0, "faces": [], "complete": False}
    if state["complete"]:
        print(f"{out_dir} is already complete ({Summary(state.get('summary')).line()}); "
              "--overwrite to redo it")
        return Summary(state.get("summary"))
    if state["sources_done"]:
        print(f"resuming after {state['sources_done']} of {len(sources.jobs)} sources")
    summary = Summary(state.get("summary"))
    entries, done, shown = state["faces"], state["sources_done"], []

    def checkpoint(complete=False):
        state.update(sources_done=done, faces=entries, complete=complete, summary=summary.state(),
                     size=sources.size)
        save_json(manifest_path, state)

    bar = _progress_bar(len(sources.jobs), done, "faces -> test pairs")
    try:
        for source, faces, skip in sources.run(done, processes):
            for number, face in enumerate(faces):
                n = len(entries)
                save_image(os.path.join(out_dir, f"img{n}.png"), face.image)
                save_image(os.path.join(out_dir, f"ky{n}.png"), face.keypoint_map)
                entries.append({"index": n, "image": f"img{n}.png", "keypoint_map": f"ky{n}.png",
                                "source": source, "face": number, "box": list(map(int, face.box)),
                                "landmarks": np.round(face.landmarks, 2).tolist()})
                if face.mask is not None:  # a damaged photo's face: its holes, white = known
                    save_image(os.path.join(out_dir, f"mask{n}.png"), (face.mask * 255).astype(np.uint8))
                    entries[-1]["mask"] = f"mask{n}.png"
            _account(bar, summary, shown, source, faces, skip)
            done += 1
            if done % PROGRESS_EVERY == 0:
                checkpoint()
        checkpoint(complete=True)
    except KeyboardInterrupt:
        raise UserError(f"interrupted after {done} sources; run the same command again to resume")
    finally:
        bar.close()
    _preview(out_dir, shown)
    return summary


# ---------------------------------------------------------------- command line

def parser(description, input_dir, output_dir, default_seed):
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("predictor", nargs="?", default=None,
                   help="shape_predictor_68_face_landmarks.dat (default: the one installed by "
                        "face_recognition_models)")
    p.add_argument("--input_dir", default=input_dir, help="folder of photos (searched recursively)")
    p.add_argument("--output_dir", default=output_dir, help="where the output is written (resumable)")
    p.add_argument("--size", type=int, default=128, help="side of the square face crops")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="render N synthetic faces instead of reading photos")
    p.add_argument("--seed", type=int, default=default_seed, help="seed of the synthetic faces")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="worker processes for face detection")
    p.add_argument("--overwrite", action="store_true", help="replace earlier output instead of resuming")
    return p


def run(write, *, output_dir, size=128, synthetic=0, seed=0, input_dir=None, predictor=None,
        processes=os.cpu_count() or 1, overwrite=False, mask_dir=None, damaged=None):
    """Preprocess the photos of input_dir (or `synthetic` synthetic faces) with `write`
    (write_train_records or write_test_pairs) into output_dir; keyword arguments as the
    scripts' flags. With mask_dir the photos are damaged, each with its mask there, and
    `damaged` is (job function, worker initialiser) that makes their faces. Returns the Summary."""
    if size < 16:
        raise UserError(f"--size {size} is too small: use 16 or more (the paper uses 128)")
    if mask_dir and synthetic:
        raise UserError("--mask_dir gives the masks of damaged photos; synthetic faces come undamaged: use one")
    if mask_dir and not os.path.isdir(mask_dir):
        raise UserError(f"mask folder {mask_dir} does not exist: give the folder of the photos' masks (white = "
                        "keep, black = the damage), each named as its photo")
    sources = Sources(size, synthetic, seed, input_dir, predictor, mask_dir, damaged)
    print(f"preprocessing {sources.description} -> {output_dir} ({processes} processes)")
    start = time.perf_counter()
    summary = write(sources, output_dir, processes, overwrite)
    elapsed = time.perf_counter() - start
    print(summary.line())
    summary.throughput = sources.throughput()
    rate = "" if summary.throughput is None else \
        f" (start-up {summary.throughput[0]:.1f} s, then {summary.throughput[1]:.1f} images/s)"
    print(f"wrote {output_dir} in {elapsed:.1f} s{rate}; preview: {os.path.join(output_dir, 'preview.png')}")
    return summary
