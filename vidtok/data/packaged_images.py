"""Natural photographs that ship inside installed packages: where they are on this machine, where
they came from and under which licence.

Nothing is downloaded. Each source is a package a user may or may not have; a missing one is simply
absent from `packaged_images()`. To get them all on Debian:
``apt-get install mate-backgrounds plasma-workspace-wallpapers gnome-backgrounds`` and
``pip install scikit-image`` (matplotlib is a dependency of this project already).

Vector art (SVG) is left out: there is no rasteriser among the dependencies.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class ImageSource:
    """A package's folder of images: its name, how to install it, its licence and where it puts them.

    ``where`` is an absolute folder, or ``"<python module>:<folder inside it>"`` for a Python package.
    """

    name: str
    install: str
    licence: str
    where: str

    def folder(self) -> Path | None:
        """The folder on this machine, or None where the package is not installed."""
        if self.where.startswith("/"):
            folder = Path(self.where)
        else:
            module, inside = self.where.split(":")
            spec = importlib.util.find_spec(module)  # found, not imported: importing skimage costs seconds
            if spec is None or spec.origin is None:
                return None
            folder = Path(spec.origin).parent / inside
        return folder if folder.is_dir() else None


#: Every source this project knows. Licences as the packages state them (Debian:
#: /usr/share/doc/<package>/copyright; scikit-image: each image's entry in skimage.data).
SOURCES: tuple[ImageSource, ...] = (
    ImageSource("scikit-image", "pip install scikit-image", "CC0 / public domain (per image, see skimage.data)",
                "skimage:data"),
    ImageSource("matplotlib", "pip install matplotlib", "public domain (grace_hopper.jpg)", "matplotlib:mpl-data/sample_data"),
    ImageSource("mate-backgrounds", "apt-get install mate-backgrounds", "GPL-2+ (Debian copyright file)",
                "/usr/share/backgrounds/mate"),
    ImageSource("plasma-workspace-wallpapers", "apt-get install plasma-workspace-wallpapers",
                "GPL-2+ (KDE Visual Design Group)", "/usr/share/wallpapers"),
    ImageSource("gnome-backgrounds", "apt-get install gnome-backgrounds", "CC-BY-SA 3.0 (Debian copyright file)",
                "/usr/share/backgrounds/gnome"),
)

# Files in those folders that are not photographs or paintings: data plots, logos, 1-bit patterns,
# tiny test files.
_NOT_PICTURES = {
    "scikit-image": {
        "chessboard_GRAY.png", "chessboard_RGB.png", "logo.png", "microaneurysms.png", "phantom.png", "text.png",
        "page.png", "horse.png", "multipage.tif", "multipage_rgb.tif", "no_time_for_that_tiny.gif",
    },
    "matplotlib": {"logo2.png", "Minduka_Present_Blue_Pack.png"},  # the second: no licence stated
}


@dataclass(frozen=True)
class PackagedImage:
    path: Path
    source: str  # ImageSource.name
    licence: str
    key: str  # stable across machines: source/relative path (decides the train/test split)

    def record(self) -> dict:
        return {"key": self.key, "source": self.source, "licence": self.licence, "path": str(self.path)}


def _plasma_pick(folder: Path) -> list[Path]:
    """One image per KDE wallpaper (each ships many sizes of the same picture): its largest landscape file."""
    picks = []
    for wallpaper in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = [f for f in (wallpaper / "contents" / "images").glob("*") if f.suffix.lower() in IMAGE_SUFFIXES]
        sizes = []
        for f in files:
            try:
                w, h = (int(v) for v in f.stem.split("x"))
            except ValueError:
                continue
            if w >= h:
                sizes.append((w * h, f))
        if sizes:
            picks.append(max(sizes)[1])
    return picks


def _files(source: ImageSource, folder: Path) -> list[Path]:
    if source.name == "plasma-workspace-wallpapers":
        return _plasma_pick(folder)
    skip = _NOT_PICTURES.get(source.name, set())
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in skip)
    # mate ships some pictures at several sizes (Elephants.jpg, Elephants_3840x2160.jpg): keep one.
    stems = {p.stem for p in files}
    return [p for p in files if not ("_" in p.stem and p.stem.rsplit("_", 1)[0] in stems and "x" in p.stem.rsplit("_", 1)[1])]


def packaged_images(sources: tuple[str, ...] | None = None) -> list[PackagedImage]:
    """The pictures of the installed `SOURCES` (or of those named), in a fixed order."""
    known = {s.name: s for s in SOURCES}
    names = tuple(known) if sources is None else tuple(sources)
    for name in names:
        if name not in known:
            raise ValueError(f"unknown image source {name!r}; known: {list(known)}")
    out = []
    for name in names:
        source = known[name]
        folder = source.folder()
        if folder is None:
            continue
        for path in _files(source, folder):
            out.append(PackagedImage(path, name, source.licence, f"{name}/{path.relative_to(folder).as_posix()}"))
    return out


def picture_of(key: str) -> str:
    """The picture an image shows, shared by its variants (a stereo pair's two views, a wallpaper's dark and
    light versions), so that the split never puts one variant in training and another in the test."""
    stem, dot, suffix = key.rpartition(".")
    for tail in ("_left", "_right", "-d", "-l"):
        if stem.endswith(tail):
            return stem[: -len(tail)]
    return stem


def is_test_image(key: str, test_share: float) -> bool:
    """Whether an image is held out for testing: a hash of its picture, so the split is the same on every machine."""
    digest = hashlib.sha256(picture_of(key).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_share
