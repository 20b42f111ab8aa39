"""The inpainting page's server side (app.py): sessions, and the handlers the page calls.

Each browser tab is a session with its own face, landmarks, mask and search; handlers
take and return JSON, images as PNG data URLs. A face from a photo (an upload, or the
astronaut photo that scikit-image ships) keeps its photo and face box, and each fill is
pasted back into the whole photo as complete.py --image does (photo.paste_face). The work is the library's: faces from the
synthetic generator or dlib (inpainting/photo.py's rule for which face), masks from inpainting/masks.py, the
keypoint map from facedata/keypoints.py, expressions from synthetic.express, the latent search
(inpaint.LatentSearch) and Poisson blending (inpainting/blend.py). A search runs in its own thread and
reports every few steps; other requests are served meanwhile. The models' searches are
shared: one search at a time per model, the others wait in turn.
"""
import base64
import collections
import functools
import io
import json
import math
import os
import threading
import uuid
import zipfile

import numpy as np
from PIL import Image

from core.configs import MASK_TYPES, ROOT, SearchConfig
from facedata.faces import crop_face, decode_photo
from facedata.keypoints import JAW_POINTS, REGIONS, draw_keypoint_map
from facedata.synthetic import express, synthetic_face
from inpainting import masks as mask_lib
from inpainting.blend import poisson_blend
from inpainting.inpaint import LatentSearch, composite, random_starts
from inpainting.metrics import psnr
from facedata.shape import load_face_prior
from inpainting.photo import black_holes, damaged_boxes, damaged_landmarks, mask_on_box, paste_face, the_face
from utils import UserError, from_uint8, to_uint8

TEST_FACES = 8           # built-in faces: synthetic test faces (seed 1, as experiments.py's)
TEST_SEED = 1
ASTRONAUT = TEST_FACES   # and, where scikit-image is installed, its astronaut photo (a real face)
MAX_UPLOAD_BYTES = 20 << 20
MAX_PHOTO_SIDE = 1600    # larger photos are shrunk before dlib looks at them
MAX_STEPS = 5000
# What one upload may cost to decode: a JPEG is decoded at a reduced scale (libjpeg's DCT
# scaling) up to this many pixels in its header; other formats are decoded whole, so they
# get a smaller budget. A larger photo is refused from its header, before it is decoded.
MAX_JPEG_PIXELS = 64_000_000
MAX_OTHER_PIXELS = 25_000_000
UPLOAD_SLOTS = 2         # uploads decoded at once; a third waits up to UPLOAD_WAIT_SECONDS
UPLOAD_WAIT_SECONDS = 30
MAX_SESSIONS = 200       # browser tabs remembered, the least recently used forgotten first
MAX_SESSION_BYTES = 256 << 20  # and the arrays they hold together (a photo's session with a result: 15 MB)
MAX_SEARCHES = 8         # searches running or queued, over all tabs (one per tab)
MAX_SEED = 2 ** 32 - 1
STEPS_PER_CHECK = 50     # the search looks at the stop button at least this often
# A damaged photo's black holes (photo.black_holes): regions of at least this share of its face crop, or of the
# whole photo when looking for its face (not a pupil, nor a dark pixel or two).
BLACK_CROP_AREA = 0.003
BLACK_PHOTO_AREA = 0.0005
GROUPS = {name: list(indices) for name, indices, _ in REGIONS} | {"jaw": list(JAW_POINTS)}


class PageError(Exception):
    """A request the page cannot serve: one line shown on the page; the server goes on."""
    status = 400


class Busy(PageError):
    """The server is at one of its limits for now: a 503 with one line."""
    status = 503


def integer(request, key, default, low, high):
    """request[key] (or default) as an int within [low, high]; one line otherwise."""
    value = request.get(key, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PageError(f"{key} {str(value)[:20]}: use a whole number from {low} to {high}")
    return value


def number(value, what, low, high):
    """A finite number (or numeric string) clipped to [low, high]; one line otherwise."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise PageError(f"{what} must be a number from {low} to {high}")
    return min(max(value, low), high)


def shown_path(path):
    """A folder as downloads name it: relative to the repository when inside it, else its
    name alone (the server's disk layout is not the user's business)."""
    relative = os.path.relpath(os.path.abspath(path), ROOT)
    return os.path.basename(os.path.normpath(path)) if relative.startswith("..") else relative


def encode_png(image):
    """uint8 [H, W, 3] or [H, W] as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def png(image):
    """uint8 [H, W, 3] or [H, W] as a PNG data URL."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


def unpng(data_url, what):
    """bytes of a data URL (or plain base64)."""
    try:
        return base64.b64decode(data_url.split(",", 1)[-1], validate=False)
    except (ValueError, TypeError) as error:
        raise PageError(f"the {what} did not arrive as an image ({error}): try again")


class Model:
    """A trained GAN for the page, its search (batch 1) and the lock that gives the search
    to one session at a time."""

    def __init__(self, name, gan, checkpoint_dir):
        self.name, self.gan, self.checkpoint_dir = name, gan, checkpoint_dir
        self.search = LatentSearch(gan, SearchConfig(batch_size=1, nIter=1))
        self.lock = threading.Lock()
        size = gan.config.output_size
        zeros = np.zeros((1, size, size, 3), np.float32)
        self.search.start(random_starts(0, 0, 1, gan.config.z_dim))
        self.search.run(zeros, zeros, np.ones((1, size, size, 1), np.float32), 1)  # traced now, not on first use

    @classmethod
    def of(cls, gan, checkpoint_dir, prefix=""):
        """A Model named for the page by its architecture."""
        c = gan.config
        kind = "keypoint-conditioned ECGAN" if c.conditional else f"{c.arch.upper()} without a map"
        return cls(f"{prefix}{kind}, {c.output_size}x{c.output_size}", gan, checkpoint_dir)

    def settings(self):
        return {"checkpoint_dir": shown_path(self.checkpoint_dir), "generator": getattr(self.gan, "generator_weights", "raw"),
                "arch": self.gan.config.arch, "conditional": self.gan.config.conditional}


class Session:
    """One tab's state. Landmarks are kept as `base` (dragged by the user) and shown with
    the expression applied (`points`)."""

    def __init__(self, size):
        self.size = size
        self.lock = threading.Lock()
        self.face = self.truth = None
        self.base = self.points = None
        self.expression = {"smile": 0.0, "opening": 0.0, "eyes": 1.0}
        self.mask = np.ones((size, size), np.float32)
        self.run = None  # the current or last search: a dict the search thread fills
        self.source = None
        self.photo = self.box = None  # a face from a photo: the photo and the face's box in it
        self.damaged = False  # the photo came damaged: the landmarks under the mask are estimated
        self.estimated = np.zeros(68, bool)  # which of the landmarks shown were estimated, not found
        self.note = ""  # one line when so few landmarks were clear of the mask that the estimate is the average face

    def nbytes(self):
        """What the session's arrays and its last search's results take in memory."""
        arrays = [self.face, self.truth, self.photo, self.mask]
        if self.run is not None:
            arrays += [self.run["inputs"]["face"], self.run["inputs"]["mask"]]
            arrays += [v for r in list(self.run["models"].values()) for k, v in r.items() if k.endswith("_array")]
        strings = [] if self.run is None else [v for r in list(self.run["models"].values()) for v in r.values()
                                               if isinstance(v, str)]
        return sum(a.nbytes for a in arrays if a is not None) + sum(len(v) for v in strings)

    def close(self):
        """Forgotten by the server: a running search stops."""
        if self.run is not None:
            self.run["stop"] = True

    def set_face(self, image, landmarks, source, truth=None, photo=None, box=None):
        self.face, self.truth, self.source = image, truth, source
        self.photo, self.box = photo, box
        self.damaged, self.estimated, self.note = False, np.zeros(68, bool), ""
        self.base = self.original = np.asarray(landmarks, np.float64)
        self.expression = {"smile": 0.0, "opening": 0.0, "eyes": 1.0}
        self.points = self.base.copy()
        self.mask = np.ones((self.size, self.size), np.float32)
        if self.run is not None:  # a new face: the last search is not this face's (a running one stops)
            self.run["stop"] = True
            self.run = None

    def express(self):
        e = self.expression
        unit = express(self.base / self.size, smile=e["smile"], opening=e["opening"], eyes=(e["eyes"], e["eyes"]))
        self.points = unit * self.size
        return self.points

    def keypoint_map(self):
        return draw_keypoint_map(self.points.astype(np.float32), self.size)

    def view(self):
        return {"face": png(self.face), "map": png(self.keypoint_map()), "points": self.points.tolist(),
                "base": self.base.tolist(), "expression": self.expression, "source": self.source,
                "estimated": self.estimated.tolist(), "damaged": self.damaged, "note": self.note}


class App:
    """The handlers. models: [Model] (the conditioned model first, a baseline second)."""

    def __init__(self, models, finder_factory=None):
        self.models = models
        self.size = models[0].gan.config.output_size
        self.sessions, self.lock = collections.OrderedDict(), threading.Lock()
        self.upload_slots = threading.BoundedSemaphore(UPLOAD_SLOTS)
        self.finder_factory = finder_factory
        self._finder = self._prior = None

    # --- sessions -------------------------------------------------------------------
    max_request_bytes = MAX_UPLOAD_BYTES * 4 // 3 + (1 << 16)  # a base64 photo and its JSON

    def new_session(self, _request=None):
        session_id = uuid.uuid4().hex
        with self.lock:
            self.sessions[session_id] = Session(self.size)
        self.forget_old_sessions()
        faces = [f"synthetic test face {i}" for i in range(TEST_FACES)] + \
            ["astronaut photo (scikit-image)"] * (astronaut_photo() is not None)
        return {"session": session_id, "size": self.size, "faces": faces, "masks": list(MASK_TYPES),
                "groups": GROUPS, "models": [m.name for m in self.models], "max_steps": MAX_STEPS}

    def session(self, request):
        key = str(request.get("session"))
        with self.lock:
            found = self.sessions.get(key)
            if found is not None:
                self.sessions.move_to_end(key)  # the least recently used tab is forgotten first
        if found is None:
            raise PageError("this page's session is unknown to the server (it restarted, or the tab was idle "
                            "while many others were used?): reload the page")
        return found

    def forget_old_sessions(self):
        """Keep at most MAX_SESSIONS sessions holding at most MAX_SESSION_BYTES: the least
        recently used go first (their searches stop); the newest is always kept."""
        with self.lock:
            sizes = {key: session.nbytes() for key, session in self.sessions.items()}
            total = sum(sizes.values())
            while len(self.sessions) > 1 and (len(self.sessions) > MAX_SESSIONS or total > MAX_SESSION_BYTES):
                key, session = self.sessions.popitem(last=False)
                total -= sizes[key]
                session.close()

    def close_session(self, request):
        """The tab is closing: forget its session and stop its search."""
        with self.lock:
            session = self.sessions.pop(str(request.get("session")), None)
        if session is not None:
            session.close()
        return {"closed": session is not None}

    # --- input ----------------------------------------------------------------------
    def pick_face(self, request):
        session = self.session(request)
        count = TEST_FACES + (astronaut_photo() is not None)
        index = integer(request, "index", 0, 0, count - 1)
        if index == ASTRONAUT:
            return self.use_photo(session, astronaut_photo(), "astronaut photo (scikit-image)")
        image, _, landmarks = synthetic_face(TEST_SEED, index, self.size)
        with session.lock:
            session.set_face(image, landmarks, f"built-in test face {index}", truth=image)
            return session.view()

    def upload(self, request):
        """A photo of the user's: dlib finds the face (the largest usable one, as
        complete.py --image) and its landmarks; the page works on the face crop."""
        session = self.session(request)
        name = os.path.basename(str(request.get("name") or "the upload"))
        data = unpng(request.get("data", ""), "photo")
        if len(data) > MAX_UPLOAD_BYTES:
            raise PageError(f"{name} is {len(data) >> 20} MB: upload a photo under {MAX_UPLOAD_BYTES >> 20} MB")
        if not self.upload_slots.acquire(timeout=UPLOAD_WAIT_SECONDS):
            raise Busy(f"the server is reading {UPLOAD_SLOTS} other photos: upload {name} again in a moment")
        try:
            photo = decode_upload(data, name)
        finally:
            self.upload_slots.release()
        photo = self.use_photo(session, photo, name)
        self.forget_old_sessions()
        return photo

    def use_photo(self, session, photo, name):
        """The largest usable face of a uint8 photo (dlib) becomes the session's face; the
        photo and the box are kept to paste the fill back."""
        finder = self.finder()
        try:  # a photo that came damaged: its black holes smoothed, dlib finds the face they hide more often
            holes = black_holes(photo, BLACK_PHOTO_AREA * photo.shape[0] * photo.shape[1])
            box = the_face(damaged_boxes(finder, photo, holes), photo.shape[1], photo.shape[0], name,
                           ": upload a photo with a frontal face")
        except UserError as error:
            raise PageError(str(error))
        face = crop_face(photo, box, finder.landmarks_in_box(photo, box), self.size, name)
        with session.lock:
            session.set_face(face.image, face.landmarks, name, photo=photo, box=face.box)
            return session.view()

    def finder(self):
        with self.lock:  # two first uploads at once load dlib's models once
            return self._make_finder()

    def prior(self):
        """The shape model and mean face behind the estimate of a damaged photo's landmarks
        (facedata/shape.py), beside the first model or else the shipped ones; loaded once."""
        with self.lock:
            if self._prior is None:
                try:
                    self._prior = load_face_prior(self.models[0].checkpoint_dir)
                except UserError as error:
                    raise PageError(str(error))
            return self._prior

    def _make_finder(self):
        if self._finder is None:
            if self.finder_factory is not None:
                self._finder = self.finder_factory(self.size)
            else:
                from facedata.faces import FaceFinder
                try:
                    self._finder = FaceFinder(None, self.size)
                except UserError as error:
                    raise PageError(str(error))
        return self._finder

    # --- damage and keypoints -------------------------------------------------------
    def mask_of_type(self, request):
        session = self.session(request)
        kind = request.get("type")
        if kind not in MASK_TYPES or kind == "full":
            raise PageError(f"unknown mask type {kind}: use one of {', '.join(t for t in MASK_TYPES if t != 'full')}")
        seed = integer(request, "seed", 0, 0, MAX_SEED)
        mask = mask_lib.make_mask(kind, self.size, rng=np.random.default_rng(seed))
        with session.lock:
            session.mask = mask
            self._estimate(session)
            return {"mask": png(mask * 255), **session.view()}

    def damaged(self, request):
        """The uploaded photo came damaged (on) or not (off). On: where nothing is painted yet,
        the mask starts from the photo's black holes (black_holes); from then on the landmarks
        under the mask are estimated from the others (photo.damaged_landmarks) whenever the
        mask changes, and shown apart so they can still be dragged. Off: dlib's landmarks of
        the photo as it is."""
        session = self.session(request)
        on = request.get("damaged")
        if not isinstance(on, bool):
            raise PageError("damaged must be true or false")
        with session.lock:
            if session.face is None:
                raise PageError("pick a face or upload a photo first")
            if on and session.photo is None:
                raise PageError("a built-in face comes with its true landmarks: upload a damaged photo to estimate "
                                "the ones it hides")
            session.damaged = on
            if on and session.mask.all():
                session.mask = black_holes(session.face, BLACK_CROP_AREA * self.size ** 2)
            if not on:
                session.base, session.estimated, session.note = session.original, np.zeros(68, bool), ""
                session.express()
            self._estimate(session)
            return {"mask": png(session.mask * 255), **session.view()}

    def _estimate(self, session):
        """A damaged photo's landmarks anew for its mask (holding session.lock): dlib's where
        the mask leaves them clear, the estimate elsewhere; the expression is kept."""
        if not session.damaged:
            return
        photo, box = session.photo, session.box
        photo_mask = mask_on_box(session.mask, box, *photo.shape[:2])
        damaged = (photo * photo_mask[..., None]).astype(np.uint8)
        estimate = damaged_landmarks(self.finder(), damaged, box, photo_mask, self.size, self.prior())
        session.base, session.estimated = estimate.landmarks.astype(np.float64), estimate.hidden
        session.note = estimate.note and f"{session.source}: {estimate.note}"
        session.express()

    def keypoints(self, request):
        """The dragged landmarks (`base`, [68, 2] crop pixels) and the expression; returns the
        landmarks shown and the map facedata/keypoints.py draws from them."""
        session = self.session(request)
        with session.lock:
            if session.face is None:
                raise PageError("pick a face or upload a photo first")
            if request.get("reset"):
                session.base = session.original
                session.expression = {"smile": 0.0, "opening": 0.0, "eyes": 1.0}
                self._estimate(session)  # a damaged photo's: back to the estimate for its mask
            if "base" in request:
                base = np.asarray(request["base"], np.float64)
                if base.shape != (68, 2) or not np.isfinite(base).all():
                    raise PageError("the landmarks must be 68 (x, y) pairs")
                session.base = np.clip(base, -self.size, 2 * self.size)  # dlib's points may lie off the crop
            expression = request.get("expression", {})
            if not isinstance(expression, dict):
                raise PageError("the expression must be smile, opening and eyes values")
            for key, (low, high) in (("smile", (-0.3, 1.0)), ("opening", (0.0, 0.12)), ("eyes", (0.0, 1.3))):
                if key in expression:
                    session.expression[key] = number(expression[key], key, low, high)
            session.express()
            return session.view()

    # --- search ---------------------------------------------------------------------
    def run(self, request):
        """Start the search on the session's face, mask and map: `steps` steps (Adam, the
        search's lr and lam), showing the fill every `every` steps, from seed `seed`'s start."""
        session = self.session(request)
        steps = integer(request, "steps", 100, 1, MAX_STEPS)
        every = integer(request, "every", 10, 1, MAX_STEPS)
        seed = integer(request, "seed", 0, 0, MAX_SEED)
        with self.lock:
            searches = sum(1 for s in self.sessions.values() if s.run is not None and not s.run["done"])
        if searches >= MAX_SEARCHES:
            raise Busy(f"{searches} searches are running or queued: run again when one has finished")
        with session.lock:
            if session.face is None:
                raise PageError("pick a face or upload a photo first")
            if session.run is not None and not session.run["done"]:
                raise PageError("a search is running: stop it first")
            if "mask" in request:
                session.mask = self._mask_from(request["mask"])
            if session.mask.all():
                raise PageError("paint the damage first (or pick a mask type): nothing is masked")
            # The run keeps its own inputs: the downloads describe this run, whatever is edited after it.
            inputs = {"face": session.face.copy(), "keypoint_map": session.keypoint_map(), "mask": session.mask.copy(),
                      "truth": session.truth, "points": session.points.tolist(), "expression": dict(session.expression),
                      "source": session.source, "photo": session.photo, "box": session.box}
            state = {"steps": steps, "every": every, "seed": seed, "done": False, "stop": False,
                     "error": None, "inputs": inputs,
                     "models": {m.name: {"step": 0, "status": "waiting"} for m in self.models}}
            session.run = state
        threading.Thread(target=self._search, args=(state,), daemon=True).start()
        return {"started": True}

    def _mask_from(self, data_url):
        """The painted mask: a PNG of exactly the face's size (checked from its header)."""
        if not isinstance(data_url, str):
            raise PageError("the painted mask did not arrive as an image: paint it again")
        try:
            with Image.open(io.BytesIO(unpng(data_url, "mask"))) as im:
                if im.size != (self.size, self.size):
                    raise ValueError(f"{im.size[0]}x{im.size[1]}, not the face's {self.size}x{self.size}")
                return mask_lib.mask_of_image(im)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise PageError(f"the painted mask could not be read ({error}): paint it again")

    def set_mask(self, request):
        """The mask as painted on the page (sent after each stroke), so downloads see it."""
        session = self.session(request)
        mask = self._mask_from(request.get("mask", ""))
        with session.lock:
            session.mask = mask
            self._estimate(session)
            return {"masked_pixels": int((mask < 0.5).sum()), **(session.view() if session.damaged else {})}

    def _search(self, state):
        """The search thread: each model in turn, reporting every `every` steps (and at least
        every STEPS_PER_CHECK, so stop acts soon). Each report replaces the model's entry
        whole, so a progress request never sees one half-written."""
        inputs = state["inputs"]
        x, k = from_uint8(inputs["face"][None]), from_uint8(inputs["keypoint_map"][None])
        mask, truth = inputs["mask"], inputs["truth"]
        m = mask[None, ..., None]
        models = state["models"]
        try:
            for model in self.models:
                acquired = False  # a stop while waiting must not leave the model's lock taken
                while not state["stop"] and not (acquired := model.lock.acquire(timeout=0.1)):
                    models[model.name] = {**models[model.name], "status": "waiting for another tab's search"}
                if not acquired:
                    break
                try:
                    report = {"step": 0, "status": "searching"}
                    models[model.name] = report
                    model.search.start(random_starts(state["seed"], 0, 1, model.gan.config.z_dim))
                    while report["step"] < state["steps"] and not state["stop"]:
                        chunk = min(state["every"], STEPS_PER_CHECK, state["steps"] - report["step"])
                        total, context, prior, generated = model.search.run(x, k, m, chunk)
                        fill = to_uint8(composite(x, generated, m))[0]
                        report = {"step": report["step"] + chunk, "status": "searching", "loss": float(total[0]),
                                  "context": float(context[0]), "prior": float(prior[0]),
                                  "generated": png(to_uint8(generated[0])), "fill": png(fill)}
                        models[model.name] = report
                finally:
                    model.lock.release()
                if report["step"] == 0:
                    break
                blended = to_uint8(poisson_blend(x, generated, mask[None]))[0]
                report = {**report, "status": "stopped" if state["stop"] else "done", "blended": png(blended),
                          "blended_array": blended}
                if inputs["photo"] is not None:
                    whole = pasted_back(inputs["photo"], inputs["box"], blended, mask)
                    report.update(photo=png(shown_photo(whole)), photo_array=whole)
                if truth is not None:
                    report.update(psnr_before=float(psnr(from_uint8(fill[None]), from_uint8(truth[None]))[0]),
                                  psnr_after=float(psnr(from_uint8(blended[None]), from_uint8(truth[None]))[0]))
                models[model.name] = report
        except Exception as error:  # shown on the page; the server goes on
            state["error"] = f"the search failed: {type(error).__name__}: {error}"
        finally:
            for name, report in list(models.items()):
                if report["status"] not in ("done", "stopped"):
                    models[name] = {**report, "status": "stopped"}
            state["done"] = True

    def stop(self, request):
        session = self.session(request)
        if session.run is not None:
            session.run["stop"] = True
        return {"stopping": True}

    def progress(self, request):
        session = self.session(request)
        run = session.run
        if run is None:
            return {"running": False}
        models = {name: {k: v for k, v in report.items() if not k.endswith("_array")}
                  for name, report in list(run["models"].items())}
        return {"running": not run["done"], "done": run["done"], "error": run["error"], "steps": run["steps"],
                "models": models}

    # --- output ---------------------------------------------------------------------
    def download(self, request):
        """(bytes, content type, file name) of `what`: inpainted (the first model's blended
        fill), photo (a photo's face with that fill pasted back, the whole photo), mask, map,
        or settings (a zip with the run's face, map and mask as a test pair and the
        complete.py command that reproduces the inpainting)."""
        session = self.session(request)
        what = request.get("what")
        with session.lock:
            if session.face is None:
                raise PageError("pick a face or upload a photo first")
            if what == "mask":
                return encode_png(session.mask * 255), "image/png", "mask.png"
            if what == "map":
                return encode_png(session.keypoint_map()), "image/png", "keypoint_map.png"
            run = session.run
        if what not in ("inpainted", "photo", "settings"):
            raise PageError(f"unknown download {what}: use inpainted, photo, mask, map or settings")
        if run is None or not run["done"] or "blended_array" not in run["models"][self.models[0].name]:
            raise PageError("run a search on this face first")
        if what == "inpainted":
            return encode_png(run["models"][self.models[0].name]["blended_array"]), "image/png", "inpainted.png"
        if what == "photo":
            if run["inputs"]["photo"] is None:
                raise PageError("this face is not from a photo: upload one (or pick the astronaut) to get the whole "
                                "photo back")
            return encode_png(run["models"][self.models[0].name]["photo_array"]), "image/png", "inpainted_photo.png"
        return self._settings_zip(run), "application/zip", "inpainting_settings.zip"

    def _settings_zip(self, run):
        model, inputs = self.models[0], run["inputs"]
        config, report = model.search.config, run["models"][self.models[0].name]
        command = (f"python complete.py --checkpoint_dir {shown_path(model.checkpoint_dir)} --test_dir pair "
                   f"--mask_file pair/mask.png --batch_size 1 --nIter {report['step']} --lr {config.lr} "
                   f"--lam {config.lam} --seed {run['seed']} --generator {model.settings()['generator']} "
                   "--outDir inpainted")
        settings = {"source": inputs["source"], "steps": report["step"], "seed": run["seed"], "lr": config.lr,
                    "lam": config.lam, "expression": inputs["expression"], "landmarks": inputs["points"],
                    "models": [m.settings() for m in self.models], "reproduce": command}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("pair/img0.png", encode_png(inputs["face"]))
            z.writestr("pair/ky0.png", encode_png(inputs["keypoint_map"]))
            z.writestr("pair/mask.png", encode_png(inputs["mask"] * 255))
            z.writestr("inpainted.png", encode_png(report["blended_array"]))
            z.writestr("settings.json", json.dumps(settings, indent=2))
        return buffer.getvalue()

    ROUTES = {"session": "new_session", "face": "pick_face", "upload": "upload", "mask": "mask_of_type",
              "paint": "set_mask", "damaged": "damaged", "keypoints": "keypoints", "run": "run", "stop": "stop", "progress": "progress",
              "close": "close_session"}

    def handle(self, route, request):
        """(status, JSON-able answer) for an API call; a PageError is a 400 with its line."""
        name = self.ROUTES.get(route)
        if name is None:
            return 404, {"error": f"no such call: {route}"}
        try:
            return 200, getattr(self, name)(request)
        except PageError as error:
            return error.status, {"error": str(error)}
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
            return 400, {"error": f"a malformed request ({type(error).__name__}: {one_line(error)}): reload the page"}
        except Exception as error:  # one line on the page; the server goes on
            return 500, {"error": f"the server failed on this request ({type(error).__name__}: {one_line(error)})"}

    def download_answer(self, request):
        """(200, (bytes, content type, file name)) of a download, or (status, {"error": line})."""
        try:
            return 200, self.download(request)
        except PageError as error:
            return error.status, {"error": str(error)}
        except Exception as error:  # one line; the server goes on
            return 500, {"error": f"the server failed on this download ({type(error).__name__}: {one_line(error)})"}


def one_line(error, limit=200):
    return " ".join(str(error).split())[:limit]


def decode_upload(data, name):
    """uint8 [H, W, 3] of an uploaded photo, at most MAX_PHOTO_SIDE a side, decoded within
    the pixel budget (faces.decode_photo); one line otherwise."""
    try:
        return decode_photo(data, name, MAX_PHOTO_SIDE, MAX_JPEG_PIXELS, MAX_OTHER_PIXELS)
    except UserError as error:
        raise PageError(str(error))


@functools.lru_cache(maxsize=1)
def astronaut_photo():
    """scikit-image's astronaut photo (uint8 [512, 512, 3], public domain), or None where
    scikit-image is not installed."""
    try:
        from skimage import data
    except ImportError:
        return None
    return np.asarray(data.astronaut(), np.uint8)


def pasted_back(photo, box, blended, crop_mask):
    """The photo with the face's hole (crop_mask 0, face-crop pixels) filled from the
    blended crop resized onto the box; every other pixel as it was."""
    photo_mask = mask_on_box(crop_mask, box, *photo.shape[:2])
    return paste_face(photo, from_uint8(blended), box, photo_mask)


SHOWN_PHOTO_SIDE = 480  # the page shows the whole photo at most this large (the download is full size)


def shown_photo(photo):
    scale = SHOWN_PHOTO_SIDE / max(photo.shape[:2])
    if scale >= 1:
        return photo
    size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))
