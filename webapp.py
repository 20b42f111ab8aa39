"""The inpainting page's server side (app.py): sessions, and the handlers the page calls.

Each browser tab is a session with its own face, landmarks, mask and search; handlers
take and return JSON, images as PNG data URLs. A face from a photo (an upload, or the
astronaut photo that scikit-image ships) keeps its photo and face box, and each fill is
pasted back into the whole photo as complete.py --image does (photo.paste_face). The work is the library's: faces from the
synthetic generator or dlib (photo.py's rule for which face), masks from masks.py, the
keypoint map from keypoints.py, expressions from synthetic.express, the latent search
(inpaint.LatentSearch) and Poisson blending (blend.py). A search runs in its own thread and
reports every few steps; other requests are served meanwhile. The models' searches are
shared: one search at a time per model, the others wait in turn.
"""
import base64
import functools
import io
import json
import os
import threading
import uuid
import zipfile

import numpy as np
from PIL import Image

import masks as mask_lib
from blend import poisson_blend
from configs import MASK_TYPES, SearchConfig
from faces import Skip, crop_face, load_rgb
from inpaint import LatentSearch, composite, random_starts
from keypoints import JAW_POINTS, REGIONS, draw_keypoint_map
from metrics import psnr
from photo import mask_on_box, paste_face, the_face
from synthetic import express, synthetic_face
from utils import UserError, from_uint8, to_uint8

TEST_FACES = 8           # built-in faces: synthetic test faces (seed 1, as experiments.py's)
TEST_SEED = 1
ASTRONAUT = TEST_FACES   # and, where scikit-image is installed, its astronaut photo (a real face)
MAX_UPLOAD_BYTES = 20 << 20
MAX_PHOTO_SIDE = 1600    # larger photos are shrunk before dlib looks at them
MAX_STEPS = 5000
MAX_PHOTO_PIXELS = 64_000_000  # a larger photo is refused from its header, before it is decoded
MAX_SESSIONS = 200       # browser tabs remembered
STEPS_PER_CHECK = 50     # the search looks at the stop button at least this often
GROUPS = {name: list(indices) for name, indices, _ in REGIONS} | {"jaw": list(JAW_POINTS)}


class PageError(Exception):
    """A request the page cannot serve: one line shown on the page; the server goes on."""


def check_seed(seed):
    if seed < 0:
        raise PageError(f"seed {seed}: use 0 or more")
    return seed


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
        return {"checkpoint_dir": self.checkpoint_dir, "generator": getattr(self.gan, "generator_weights", "raw"),
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

    def set_face(self, image, landmarks, source, truth=None, photo=None, box=None):
        self.face, self.truth, self.source = image, truth, source
        self.photo, self.box = photo, box
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
                "base": self.base.tolist(), "expression": self.expression, "source": self.source}


class App:
    """The handlers. models: [Model] (the conditioned model first, a baseline second)."""

    def __init__(self, models, finder_factory=None):
        self.models = models
        self.size = models[0].gan.config.output_size
        self.sessions, self.lock = {}, threading.Lock()
        self.finder_factory = finder_factory
        self._finder = None

    # --- sessions -------------------------------------------------------------------
    def new_session(self, _request=None):
        session_id = uuid.uuid4().hex
        with self.lock:
            self.sessions[session_id] = Session(self.size)
            while len(self.sessions) > MAX_SESSIONS:  # the oldest tab's state goes first
                self.sessions.pop(next(iter(self.sessions)))
        faces = [f"synthetic test face {i}" for i in range(TEST_FACES)] + \
            ["astronaut photo (scikit-image)"] * (astronaut_photo() is not None)
        return {"session": session_id, "size": self.size, "faces": faces, "masks": list(MASK_TYPES),
                "groups": GROUPS, "models": [m.name for m in self.models], "max_steps": MAX_STEPS}

    def session(self, request):
        with self.lock:
            found = self.sessions.get(str(request.get("session")))
        if found is None:
            raise PageError("this page's session is unknown to the server (it restarted?): reload the page")
        return found

    # --- input ----------------------------------------------------------------------
    def pick_face(self, request):
        session = self.session(request)
        index = int(request.get("index", 0))
        count = TEST_FACES + (astronaut_photo() is not None)
        if not 0 <= index < count:
            raise PageError(f"there are {count} built-in faces: pick 0 to {count - 1}")
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
        try:
            with Image.open(io.BytesIO(data)) as im:
                pixels = f"{im.size[0] * im.size[1] // 10 ** 6}" if im.size[0] * im.size[1] > MAX_PHOTO_PIXELS else ""
        except Image.DecompressionBombError:
            pixels = "too many"
        except Exception:  # not an image at all: load_rgb says so below
            pixels = ""
        if pixels:
            raise PageError(f"{name} has {pixels} megapixels: upload a photo under {MAX_PHOTO_PIXELS // 10 ** 6}")
        try:
            photo = load_rgb(io.BytesIO(data))
        except Skip as skip:
            raise PageError(f"{name} is not a usable image ({skip.args[0]}): upload a JPEG or PNG photo of a face")
        scale = MAX_PHOTO_SIDE / max(photo.shape[:2])
        if scale < 1:
            photo = np.asarray(Image.fromarray(photo).resize(
                (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), Image.Resampling.LANCZOS))
        return self.use_photo(session, photo, name)

    def use_photo(self, session, photo, name):
        """The largest usable face of a uint8 photo (dlib) becomes the session's face; the
        photo and the box are kept to paste the fill back."""
        finder = self.finder()
        try:
            box = the_face(finder.boxes(photo), photo.shape[1], photo.shape[0], name, ": upload a photo with a "
                           "frontal face")
        except UserError as error:
            raise PageError(str(error))
        face = crop_face(photo, box, finder.landmarks_in_box(photo, box), self.size, name)
        with session.lock:
            session.set_face(face.image, face.landmarks, name, photo=photo, box=face.box)
            return session.view()

    def finder(self):
        with self.lock:  # two first uploads at once load dlib's models once
            return self._make_finder()

    def _make_finder(self):
        if self._finder is None:
            if self.finder_factory is not None:
                self._finder = self.finder_factory(self.size)
            else:
                from faces import FaceFinder
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
        seed = check_seed(int(request.get("seed", 0)))
        mask = mask_lib.make_mask(kind, self.size, rng=np.random.default_rng(seed))
        with session.lock:
            session.mask = mask
        return {"mask": png(mask * 255)}

    def keypoints(self, request):
        """The dragged landmarks (`base`, [68, 2] crop pixels) and the expression; returns the
        landmarks shown and the map keypoints.py draws from them."""
        session = self.session(request)
        with session.lock:
            if session.face is None:
                raise PageError("pick a face or upload a photo first")
            if request.get("reset"):
                session.base = session.original
                session.expression = {"smile": 0.0, "opening": 0.0, "eyes": 1.0}
            if "base" in request:
                base = np.asarray(request["base"], np.float64)
                if base.shape != (68, 2) or not np.isfinite(base).all():
                    raise PageError("the landmarks must be 68 (x, y) pairs")
                session.base = np.clip(base, -self.size, 2 * self.size)  # dlib's points may lie off the crop
            for key, (low, high) in (("smile", (-0.3, 1.0)), ("opening", (0.0, 0.12)), ("eyes", (0.0, 1.3))):
                if key in request.get("expression", {}):
                    session.expression[key] = float(np.clip(float(request["expression"][key]), low, high))
            session.express()
            return session.view()

    # --- search ---------------------------------------------------------------------
    def run(self, request):
        """Start the search on the session's face, mask and map: `steps` steps (Adam, the
        search's lr and lam), showing the fill every `every` steps, from seed `seed`'s start."""
        session = self.session(request)
        steps, every, seed = (int(request.get(k, d)) for k, d in (("steps", 100), ("every", 10), ("seed", 0)))
        if not 1 <= steps <= MAX_STEPS:
            raise PageError(f"{steps} steps: use 1 to {MAX_STEPS}")
        check_seed(seed)
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
            state = {"steps": steps, "every": max(1, every), "seed": seed, "done": False, "stop": False,
                     "error": None, "inputs": inputs,
                     "models": {m.name: {"step": 0, "status": "waiting"} for m in self.models}}
            session.run = state
        threading.Thread(target=self._search, args=(state,), daemon=True).start()
        return {"started": True}

    def _mask_from(self, data_url):
        try:
            with Image.open(io.BytesIO(unpng(data_url, "mask"))) as im:
                if im.size[0] * im.size[1] > 4 * self.size * self.size:
                    raise ValueError(f"{im.size[0]}x{im.size[1]}, not {self.size}x{self.size}")
                return mask_lib.mask_of_image(im.resize((self.size, self.size), Image.Resampling.NEAREST))
        except (OSError, SyntaxError, ValueError) as error:
            raise PageError(f"the painted mask could not be read ({error}): paint it again")

    def set_mask(self, request):
        """The mask as painted on the page (sent after each stroke), so downloads see it."""
        session = self.session(request)
        mask = self._mask_from(request.get("mask", ""))
        with session.lock:
            session.mask = mask
        return {"masked_pixels": int((mask < 0.5).sum())}

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
                while not state["stop"] and not model.lock.acquire(timeout=0.1):
                    models[model.name] = {**models[model.name], "status": "waiting for another tab's search"}
                if state["stop"]:
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
        command = (f"python complete.py --checkpoint_dir {model.checkpoint_dir} --test_dir pair "
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
              "paint": "set_mask", "keypoints": "keypoints", "run": "run", "stop": "stop", "progress": "progress"}

    def handle(self, route, request):
        """(status, JSON-able answer) for an API call; a PageError is a 400 with its line."""
        name = self.ROUTES.get(route)
        if name is None:
            return 404, {"error": f"no such call: {route}"}
        try:
            return 200, getattr(self, name)(request)
        except PageError as error:
            return 400, {"error": str(error)}
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return 400, {"error": f"a malformed request ({type(error).__name__}: {error}): reload the page"}
        except Exception as error:  # one line on the page; the server goes on
            return 500, {"error": f"the server failed on this request ({type(error).__name__}: {error})"}


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


STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGES = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8")}
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + (1 << 16)  # a base64 photo and its JSON


def make_server(app, host="127.0.0.1", port=7860):
    """A threaded HTTP server for `app` (each request its own thread): the page at /, its
    calls at POST /api/<call> (JSON), downloads at GET /api/download?session=..&what=..."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the page reports errors itself
            pass

        def send(self, status, body, content_type, filename=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if filename:
                self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status, answer):
            self.send(status, json.dumps(answer).encode("utf-8"), "application/json")

        def do_GET(self):
            url = urlparse(self.path)
            if url.path in PAGES:
                name, kind = PAGES[url.path]
                with open(os.path.join(STATIC, name), "rb") as f:
                    return self.send(200, f.read(), kind)
            if url.path == "/api/download":
                request = {k: v[0] for k, v in parse_qs(url.query).items()}
                try:
                    body, kind, filename = app.download(request)
                except PageError as error:
                    return self.send_json(400, {"error": str(error)})
                return self.send(200, body, kind, filename)
            self.send_json(404, {"error": f"no page {url.path}"})

        def do_POST(self):
            route = urlparse(self.path).path.removeprefix("/api/")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self.close_connection = True  # the body is not read
                return self.send_json(413, {"error": f"the upload is over {MAX_UPLOAD_BYTES >> 20} MB: use a "
                                                     "smaller photo"})
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                return self.send_json(400, {"error": "a malformed request: reload the page"})
            self.send_json(*app.handle(route, request if isinstance(request, dict) else {}))

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
