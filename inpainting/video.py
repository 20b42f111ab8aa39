"""Face videos for sequence.py: frames from a video file or a folder of frames, the face in
each frame (dlib; the boxes averaged over neighbouring frames so the crop does not jitter),
the damage of each frame, and the filled faces pasted back into the frames.

Frames are uint8 RGB [T, H, W, 3]; frame masks bool [T, H, W], True = known. A video is held
in memory (frames, damaged frames, masks, filled frames, the side-by-side copy: about 19 x T x
H x W bytes); sequence.py's --frames keeps the first T of a long one. A frame in which dlib
finds no face is a counted skip: it stays in the video as it came (no hole drawn on it, or
the --mask_video hole left unfilled).
"""
import os
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from facedata.faces import IMAGE_EXTENSIONS, Skip, crop_pixels, largest_box, list_images, load_rgb, usable_boxes
from facedata.keypoints import draw_keypoint_map
from facedata.shape import load_face_prior
from inpainting.photo import damaged_boxes, face_landmarks, known_in_crop, mask_on_box, paste_face
from utils import UserError, from_uint8, progress_bar

BOX_SMOOTHING = 5  # frames in the moving average of the face box: dlib's boxes jump a few pixels between frames
DEFAULT_FPS = 8.0  # of a folder of frames, or a video that does not say


def _rgb(frame):
    """A decoded frame as uint8 RGB: gray is repeated, alpha dropped."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    return frame[..., :3].astype(np.uint8)


def read_frames(path, limit=None, what="video"):
    """(frames uint8 [T, H, W, 3], a name per frame, frames per second, skipped [(name,
    reason)]) of a video file (imageio: ffmpeg, or Pillow for GIFs) or a folder of frame
    images in name order (an unreadable frame, or one of another size than the first, is a
    counted skip). At most `limit` frames. Raises UserError naming the path if there is
    nothing to read."""
    if os.path.isdir(path):
        try:
            files = list_images(path)
        except UserError:
            raise UserError(f"no frames ({', '.join(IMAGE_EXTENSIONS)}) in the {what} folder {path}: give a folder "
                            "of frame images or a video file") from None
        frames, names, skipped = [], [], []
        for file in files:
            if limit and len(frames) >= limit:
                break
            try:
                frame = load_rgb(file)
            except Skip as skip:
                skipped.append((os.path.basename(file), str(skip)))
                continue
            if frames and frame.shape != frames[0].shape:
                first = frames[0].shape
                skipped.append((os.path.basename(file), f"{frame.shape[1]}x{frame.shape[0]}, not {first[1]}x{first[0]} "
                                                        "as the first frame"))
                continue
            frames.append(frame)
            names.append(os.path.basename(file))
        if not frames:
            raise UserError(f"no readable frame in the {what} folder {path}: {skipped[0][0]}: {skipped[0][1]}")
        return np.stack(frames), names, DEFAULT_FPS, skipped
    if not os.path.isfile(path):
        raise UserError(f"{what} {path} does not exist: give a video file or a folder of frames")
    import imageio.v3 as iio
    frames = []
    try:
        for frame in iio.imiter(path):
            frames.append(_rgb(frame))
            if limit and len(frames) >= limit:
                break
        fps = iio.immeta(path).get("fps") or DEFAULT_FPS
    except Exception as error:  # imageio raises OSError, ValueError, or its plugins' own errors
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"cannot read the {what} {path} ({reason}): give a video ffmpeg reads (mp4, avi, mov, "
                        "mkv, ...), a GIF, or a folder of frames") from None
    if not frames:
        raise UserError(f"the {what} {path} has no frames")
    return np.stack(frames), [f"frame {t}" for t in range(len(frames))], float(fps), []


def read_mask_video(path, frames):
    """bool [T, H, W] masks (white = known) of a mask video or folder for these frames:
    the first T of its frames, which must have the frames' size."""
    masks = read_frames(path, limit=len(frames), what="mask video")[0]
    if len(masks) < len(frames) or masks.shape[1:3] != frames.shape[1:3]:
        raise UserError(f"the mask video {path} has {len(masks)} frames of {masks.shape[2]}x{masks.shape[1]} but "
                        f"the video has {len(frames)} of {frames.shape[2]}x{frames.shape[1]}: give one mask per "
                        "frame at the video's size (white = keep, black = fill)")
    return masks.sum(axis=3, dtype=np.uint16) > 3 * 127  # the mean of R, G, B above 127


def pick_box(found, previous):
    """The face to follow: the largest on the first frame, then the one nearest the last."""
    if previous is None:
        return largest_box(found)
    centre = np.array([previous[0] + previous[2], previous[1] + previous[3]]) / 2
    return min(found, key=lambda b: np.hypot(*(np.array([b[0] + b[2], b[1] + b[3]]) / 2 - centre)))


def smooth_boxes(boxes, window=BOX_SMOOTHING):
    """Each box the mean of the boxes of `window` neighbouring frames (ends held), rounded."""
    mean = ndimage.uniform_filter1d(np.asarray(boxes, np.float64), size=min(window, len(boxes)), axis=0,
                                    mode="nearest")
    return [tuple(int(v) for v in np.round(b)) for b in mean]


@dataclass
class FaceClip:
    """A video's faces as one clip for clips.score_clips, and what puts them back."""
    frames: np.ndarray         # uint8 [T, H, W, 3], as read (the truth the PSNR is measured against)
    damaged: np.ndarray        # uint8 [T, H, W, 3], the holes black
    frame_masks: np.ndarray    # bool [T, H, W], True = known
    names: list                # of the T frames
    used: list                 # indices of the frames with a face, the clip's frames in order
    boxes: list                # the face box of each used frame
    inputs: np.ndarray         # [1, N, S, S, 3] in [-1, 1]: crops of the damaged frames
    truths: np.ndarray         # [1, N, S, S, 3]: crops of the frames as read
    keypoint_maps: np.ndarray  # [1, N, S, S, 3]: drawn from the landmarks of the damaged frames (clip_landmarks)
    masks: np.ndarray          # [1, N, S, S], 1 = known in the crop
    skipped: list              # (frame name, reason)

    def filled(self, blended):
        """The damaged frames with each face's holes filled from blended [1, N, S, S, 3]."""
        out = self.damaged.copy()
        for i, (t, box) in enumerate(progress_bar(list(zip(self.used, self.boxes)), desc="blending into frames",
                                                  unit="frame")):
            out[t] = paste_face(self.damaged[t], blended[0, i], box, self.frame_masks[t])
        return out


def clip_landmarks(finder, frames, damaged, frame_masks, used, boxes, size, keypoints="estimate", prior=None):
    """[N, 68, 2] landmarks (crop pixels) of the faces in frames `used`, each frame's as
    photo.face_landmarks gives them for one photo. (Sightings of a hidden point in nearby
    frames made the estimate worse on a real clip: docs/sequences.md.)"""
    prior = prior or (load_face_prior() if keypoints == "estimate" else None)
    return np.stack([face_landmarks(keypoints, finder, frames[t], damaged[t], box, frame_masks[t], size, prior).landmarks
                     for t, box in progress_bar(list(zip(used, boxes)), desc="landmarks", unit="frame")])


def face_clip(frames, names, finder, crop_masks=None, frame_masks=None, source="the video", keypoints="estimate",
              prior=None):
    """The face of each frame as a FaceClip of finder.size crops. Damage: frame_masks [T, H,
    W] over the whole frames (the face is then found in the damaged frame), or crop_masks
    [T, S, S] drawn on each frame's face box. Landmarks: clip_landmarks of `keypoints`
    (default the estimate from what the damaged frames show: the clean frames are unknown in
    practice)."""
    size, count = finder.size, len(frames)
    height, width = frames.shape[1:3]
    if frame_masks is not None:
        frame_masks = np.asarray(frame_masks) > 0.5
    looked_at = frames if frame_masks is None else frames * frame_masks[..., None]
    used, boxes, skipped, previous = [], [], [], None
    for t, frame in enumerate(progress_bar(looked_at, desc="finding faces", unit="frame")):
        found = finder.boxes(frame) if frame_masks is None else damaged_boxes(finder, frame, frame_masks[t])
        found = usable_boxes(found, width, height)
        if not found:
            skipped.append((names[t], "no face"))
            continue
        previous = pick_box(found, previous)
        used.append(t)
        boxes.append(previous)
    if not used:
        raise UserError(f"dlib finds no face in any of the {count} frames of {source}: use a video of a frontal face"
                        + (" or a smaller --mask_video hole" if frame_masks is not None else ""))
    boxes = smooth_boxes(boxes)
    if frame_masks is None:
        frame_masks = np.ones((count, height, width), bool)
        for t, box in zip(used, boxes):
            frame_masks[t] = mask_on_box(crop_masks[t], box, height, width) > 0.5
    damaged = frames * frame_masks[..., None]  # uint8 x bool: uint8, a byte a pixel for long videos
    landmarks = clip_landmarks(finder, frames, damaged, frame_masks, used, boxes, size, keypoints, prior)
    inputs, truths, maps, masks = [], [], [], []
    for t, box, points in zip(used, boxes, landmarks):
        inputs.append(crop_pixels(damaged[t], box, size))
        maps.append(draw_keypoint_map(points, size))
        truths.append(crop_pixels(frames[t], box, size))
        masks.append(known_in_crop(frame_masks[t], box, size))
    return FaceClip(frames, damaged, frame_masks, list(names), used, boxes, from_uint8(np.stack(inputs)[None]),
                    from_uint8(np.stack(truths)[None]), from_uint8(np.stack(maps)[None]), np.stack(masks)[None],
                    skipped)
