"""Natural-looking video from still pictures: a virtual camera pans, zooms, rotates and shakes over a
photograph, with a second picture cut out as a foreground layer moving at its own speed (parallax) and
solid objects crossing the view (occlusion).

Pictures come from installed packages (`vidtok.data.packaged_images`, no download) and from the
user's own folders. Every picture is either used or skipped: one that cannot be read is named once in
a logged warning and counted in `summary()`; training goes on with the others.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from vidtok.data.convert import to_tensor
from vidtok.data.packaged_images import IMAGE_SUFFIXES, PackagedImage, is_test_image, packaged_images

log = logging.getLogger(__name__)

SPLITS = ("train", "test", "all")
Image.MAX_IMAGE_PIXELS = 64_000_000  # the largest wallpapers are 5120x2880; far larger is a bad file


def _user_images(folders: Sequence[str | Path]) -> list[PackagedImage]:
    out = []
    for folder in folders:
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {root}")
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in path.relative_to(root).parts):
                out.append(PackagedImage(path, "folder", "the user's", f"folder/{root.name}/{path.relative_to(root)}"))
    return out


class StillsDataset(Dataset):
    """Camera-motion clips of still pictures: {"video": float (3, T, H, W) in [-1, 1], "caption": picture key}.

    ``sources``: package image sources to use (None: every installed one, see
    `packaged_images.SOURCES`; ``[]``: none); ``folders``: the user's own folders of pictures, scanned
    recursively. ``split`` keeps the training pictures, the held-out ``"test"`` ones (``test_share`` of
    the pictures, chosen by a hash of each picture's name) or ``"all"``.

    Item ``i`` draws everything (picture, camera path, layers, occluders) from
    ``default_rng([seed, i])``: the same index is the same clip in any process. Pictures are loaded on
    first use, shrunk so that their shorter side is at most ``picture_side`` (default ``8 * size``), and kept.
    """

    def __init__(
        self,
        sources: Sequence[str] | None = None,
        folders: Sequence[str | Path] = (),
        split: str = "train",
        frames: int = 17,
        size: int = 64,
        length: int = 10000,
        seed: int = 0,
        test_share: float = 0.15,
        picture_side: int | None = None,
        layer_prob: float = 0.35,
        occluder_prob: float = 0.35,
        max_speed: float = 2.5,
    ):
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {SPLITS}")
        for name, value in (("frames", frames), ("size", size), ("length", length)):
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name}={value!r}: expected an integer >= 1")
        for name, value in (("test_share", test_share), ("layer_prob", layer_prob), ("occluder_prob", occluder_prob)):
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ValueError(f"{name}={value!r}: expected a number in [0, 1]")
        if not (isinstance(max_speed, (int, float)) and 0 <= max_speed <= size):
            raise ValueError(f"max_speed={max_speed!r}: expected pixels per frame in [0, size]")
        pictures = packaged_images(None if sources is None else tuple(sources)) + _user_images(folders)
        if split != "all":
            pictures = [p for p in pictures if is_test_image(p.key, test_share) == (split == "test")]
        if not pictures:
            raise ValueError(
                f"StillsDataset found no {split} pictures (sources={sources}, folders={list(folders)}); install "
                "some (see vidtok.data.packaged_images) or name a folder of pictures"
            )
        self.pictures, self.split, self.frames, self.size, self.length, self.seed = pictures, split, frames, size, length, seed
        self.picture_side = picture_side or 8 * size
        self.layer_prob, self.occluder_prob, self.max_speed = layer_prob, occluder_prob, max_speed
        self._loaded: dict[int, np.ndarray] = {}
        self._skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return self.length

    # --- pictures ---------------------------------------------------------------------------------

    def _picture(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """A usable picture drawn by ``rng``: unreadable ones are skipped (named once) and another drawn."""
        for _ in range(len(self.pictures) * 4):
            i = int(rng.integers(len(self.pictures)))
            if str(self.pictures[i].path) in self._skipped:
                continue
            if i not in self._loaded:
                picture = self._load(self.pictures[i])
                if picture is None:
                    continue
                self._loaded[i] = picture
            return i, self._loaded[i]
        raise ValueError(f"StillsDataset: no picture could be read ({self.summary_line()})")

    def _load(self, picture: PackagedImage) -> np.ndarray | None:
        try:
            with Image.open(picture.path) as im:
                im.draft("RGB", (self.picture_side, self.picture_side))  # JPEG: decode at a reduced scale
                im = im.convert("RGB")
                scale = self.picture_side / min(im.size)
                if scale < 1:
                    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
                rgb = np.array(im)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            self._skip(picture.path, f"{type(e).__name__}: {e}")
            return None
        if min(rgb.shape[:2]) < self.size:
            self._skip(picture.path, f"{rgb.shape[1]}x{rgb.shape[0]} is smaller than a {self.size}-pixel frame")
            return None
        return rgb

    def _skip(self, path: Path, reason: str) -> None:
        self._skipped[str(path)] = reason
        log.warning("StillsDataset: skipping %s (%s)", path, reason)

    def summary(self) -> dict:
        """Pictures found, skipped so far in this process, and why."""
        return {"found": len(self.pictures), "skipped": len(self._skipped), "skipped_files": dict(self._skipped),
                "sources": dict(Counter(p.source for p in self.pictures))}

    def summary_line(self) -> str:
        s = self.summary()
        return f"StillsDataset {self.split}: {s['found']} pictures ({s['sources']}), {s['skipped']} skipped"

    # --- clips -------------------------------------------------------------------------------------

    def clip(self, index: int) -> tuple[np.ndarray, str]:
        """Item ``index`` as uint8 (T, H, W, 3) and the key of its picture."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for StillsDataset of length {self.length}")
        rng = np.random.default_rng([self.seed, index])
        i, picture = self._picture(rng)
        video = self._camera(picture, rng)
        if rng.random() < self.layer_prob:
            _, other = self._picture(rng)
            video = self._layer(video, other, rng)
        if rng.random() < self.occluder_prob:
            video = self._occluders(video, rng)
        return video.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy(), self.pictures[i].key

    def __getitem__(self, index: int) -> dict:
        video, key = self.clip(index)
        return {"video": to_tensor(video), "caption": key}

    def _zoom(self, picture: np.ndarray, rng: np.random.Generator) -> float:
        """The fraction of the picture's shorter side the frame shows, log-uniform from one picture pixel per
        frame pixel (a close-up at full detail) to 0.9 (a wide shot): never enlarged, so never blurred."""
        closest = self.size / min(picture.shape[:2])
        return float(np.exp(rng.uniform(math.log(closest), math.log(max(closest, 0.9)))))

    def _view(self, picture: np.ndarray, zoom: float) -> torch.Tensor:
        """The picture shrunk (antialiased) so that one output pixel covers about one of its pixels at ``zoom``
        (the fraction of the picture's shorter side the frame shows): bilinear sampling then does not alias."""
        h, w = picture.shape[:2]
        side = max(self.size, round(self.size / zoom))
        scale = side / min(h, w)
        x = torch.from_numpy(picture).permute(2, 0, 1).unsqueeze(0).float()
        if scale < 1:
            x = F.interpolate(x, size=(max(self.size, round(h * scale)), max(self.size, round(w * scale))),
                              mode="bilinear", antialias=True, align_corners=False)
        return x

    def _path(self, view: torch.Tensor, rng: np.random.Generator, speed: float) -> torch.Tensor:
        """Affine sampling grids (T, size, size, 2) of a camera moving over ``view``: pan, zoom, rotation, shake."""
        T, s = self.frames, self.size
        _, _, H, W = view.shape
        t = np.arange(T, dtype=np.float64)
        angle0 = rng.uniform(-0.15, 0.15) if rng.random() < 0.3 else 0.0
        spin = rng.uniform(-0.02, 0.02) if rng.random() < 0.3 else 0.0  # radians per frame
        zoom_rate = rng.uniform(-0.025, 0.025) if rng.random() < 0.5 else 0.0  # log-scale per frame
        zooms = np.exp(zoom_rate * (t - (T - 1) / 2))
        direction = rng.uniform(0, 2 * math.pi)
        v = speed * rng.uniform(0, 1) * np.array([math.cos(direction), math.sin(direction)])
        accel = rng.normal(0, 0.03, 2) if rng.random() < 0.3 else np.zeros(2)
        shake = rng.normal(0, 0.4, (T, 2)) if rng.random() < 0.15 else np.zeros((T, 2))
        offsets = t[:, None] * v + 0.5 * t[:, None] ** 2 * accel + shake
        offsets -= offsets.mean(0)
        # the frame's half-diagonal at its widest: keep the whole window inside the picture
        reach = zooms.max() * s / 2 * math.sqrt(2) if (angle0 or spin) else zooms.max() * s / 2
        room = np.array([W / 2 - reach, H / 2 - reach]) - np.abs(offsets).max(0)
        if (room < 0).any():  # too fast for this picture: slow down until the path fits
            span = np.abs(offsets).max(0) + 1e-6
            offsets *= np.clip((np.array([W / 2, H / 2]) - reach) / span, 0, 1).min()
            room = np.array([W / 2 - reach, H / 2 - reach]) - np.abs(offsets).max(0)
        centre = np.array([W / 2, H / 2]) + rng.uniform(-1, 1, 2) * np.maximum(room, 0)
        centres = centre + offsets
        angles = angle0 + spin * (t - (T - 1) / 2)
        cos, sin = np.cos(angles), np.sin(angles)
        theta = np.zeros((T, 2, 3))
        theta[:, 0, 0], theta[:, 0, 1] = zooms * s / W * cos, -zooms * s / W * sin
        theta[:, 1, 0], theta[:, 1, 1] = zooms * s / H * sin, zooms * s / H * cos
        theta[:, 0, 2], theta[:, 1, 2] = 2 * centres[:, 0] / W - 1, 2 * centres[:, 1] / H - 1
        return F.affine_grid(torch.from_numpy(theta).float(), [T, 3, s, s], align_corners=False)

    def _camera(self, picture: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """float (T, 3, size, size) in [0, 255]: the camera's view of ``picture``."""
        view = self._view(picture, self._zoom(picture, rng))
        grid = self._path(view, rng, self.max_speed)
        return F.grid_sample(view.expand(self.frames, -1, -1, -1), grid, mode="bilinear",
                             padding_mode="reflection", align_corners=False)

    def _blob(self, centres: np.ndarray, radius: float, rng: np.random.Generator) -> torch.Tensor:
        """Soft masks (T, 1, size, size) of one irregular blob (a wobbly ellipse) at ``centres`` (T, 2) pixels."""
        s = self.size
        yy, xx = torch.meshgrid(torch.arange(s, dtype=torch.float32) + 0.5, torch.arange(s, dtype=torch.float32) + 0.5,
                                indexing="ij")
        aspect = rng.uniform(0.6, 1.6)
        tilt = rng.uniform(0, math.pi)
        waves = [(k, rng.uniform(0, 0.15), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 5)]
        masks = []
        for cx, cy in centres:
            dx, dy = xx - float(cx), yy - float(cy)
            u = dx * math.cos(tilt) + dy * math.sin(tilt)
            w = -dx * math.sin(tilt) + dy * math.cos(tilt)
            r = torch.sqrt((u / aspect) ** 2 + (w * aspect) ** 2)
            phi = torch.atan2(w, u)
            edge = radius * (1 + sum(a * torch.cos(k * phi + p) for k, a, p in waves))
            masks.append((edge - r + 0.5).clamp(0, 1))  # a one-pixel soft edge: antialiased, not blurred
        return torch.stack(masks).unsqueeze(1)

    def _moving_centres(self, rng: np.random.Generator, speed: float) -> np.ndarray:
        t = np.arange(self.frames)[:, None]
        direction = rng.uniform(0, 2 * math.pi)
        v = speed * np.array([math.cos(direction), math.sin(direction)])
        start = rng.uniform(0.2, 0.8, 2) * self.size - v * (self.frames - 1) / 2
        return start + t * v

    def _layer(self, video: torch.Tensor, other: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """A blob cut out of another picture moving over the video at its own speed (parallax)."""
        s = self.size
        speed = rng.uniform(0.5, 1.5) * self.max_speed
        centres = self._moving_centres(rng, speed)
        mask = self._blob(centres, rng.uniform(0.15, 0.35) * s, rng)
        view = self._view(other, min(self._zoom(other, rng), 0.6))
        _, _, H, W = view.shape
        # the layer's texture moves with its mask: the camera over it moves the other way
        shift = centres - centres[0]
        base = np.array([rng.uniform(s, W - s) if W > 2 * s else W / 2, rng.uniform(s, H - s) if H > 2 * s else H / 2])
        theta = np.zeros((self.frames, 2, 3))
        theta[:, 0, 0], theta[:, 1, 1] = s / W, s / H
        theta[:, 0, 2] = 2 * (base[0] - shift[:, 0]) / W - 1
        theta[:, 1, 2] = 2 * (base[1] - shift[:, 1]) / H - 1
        grid = F.affine_grid(torch.from_numpy(theta).float(), [self.frames, 3, s, s], align_corners=False)
        layer = F.grid_sample(view.expand(self.frames, -1, -1, -1), grid, mode="bilinear",
                              padding_mode="reflection", align_corners=False)
        return video * (1 - mask) + layer * mask

    def _occluders(self, video: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """One to three shaded solid objects crossing the view."""
        for _ in range(int(rng.integers(1, 4))):
            centres = self._moving_centres(rng, rng.uniform(0.5, 2.0) * self.max_speed)
            mask = self._blob(centres, rng.uniform(0.06, 0.2) * self.size, rng)
            colour = torch.from_numpy(rng.uniform(0, 255, 3)).float().view(1, 3, 1, 1)
            ramp = torch.linspace(rng.uniform(0.7, 1.0), rng.uniform(1.0, 1.2), self.size).view(1, 1, self.size, 1)
            video = video * (1 - mask) + (colour * ramp).clamp(0, 255) * mask
        return video
