"""Fréchet Video Distance with a local I3D TorchScript file (nothing is downloaded).

The file is the commonly used ``i3d_torchscript.pt`` (the StyleGAN-V / "FVD comparison" export of
the Kinetics-400 I3D). It is called the way those references call it: a float batch
(B, 3, T, 224, 224) in [-1, 1] with ``rescale=False, resize=True, return_features=True``, giving
(B, 400) logits-layer features. Frames are brought to 224x224 as the reference does: resize so the
short side is 224 (bilinear), then centre crop. I3D wants at least ~10 frames; the 16-frame clips of
the literature are what FVD numbers are usually quoted for, so say which length you used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from vidtok.eval.frechet import frechet_distance
from vidtok.eval.random_features import same_shape_batches

I3D_SIDE = 224
I3D_KWARGS = {"rescale": False, "resize": True, "return_features": True}


def load_i3d(path: str | Path, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """Load the I3D TorchScript file at ``path``; FileNotFoundError / ValueError naming it when unusable."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"I3D TorchScript file not found: {p} (FVD needs a local i3d_torchscript.pt; nothing is downloaded)"
        )
    try:
        model = torch.jit.load(str(p), map_location=device)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"{p} is not a loadable TorchScript module: {str(e).splitlines()[0]}") from e
    return model.eval()


def i3d_input(batch: np.ndarray) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, 224, 224) in [-1, 1]: short side to 224, centre crop."""
    b, t, h, w, c = batch.shape
    frames = torch.from_numpy(batch).reshape(b * t, h, w, c).permute(0, 3, 1, 2).float().div_(255.0)
    scale = I3D_SIDE / min(h, w)
    size = (max(I3D_SIDE, round(h * scale)), max(I3D_SIDE, round(w * scale)))
    frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False)
    top, left = (size[0] - I3D_SIDE) // 2, (size[1] - I3D_SIDE) // 2
    frames = frames[:, :, top : top + I3D_SIDE, left : left + I3D_SIDE]
    frames = frames.mul(2).sub(1).clamp(-1, 1)
    return frames.reshape(b, t, c, I3D_SIDE, I3D_SIDE).permute(0, 2, 1, 3, 4).contiguous()


def i3d_features(
    videos: Iterable[np.ndarray],
    model: torch.jit.ScriptModule,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """I3D features (N, 400) float64 of uint8 videos (T, H, W, 3)."""
    out = []
    with torch.no_grad():
        for batch in same_shape_batches(videos, batch_size):
            feats = model(i3d_input(batch).to(device), **I3D_KWARGS)
            if feats.ndim != 2 or feats.shape[0] != len(batch):
                raise ValueError(f"the I3D module returned {tuple(feats.shape)}, expected ({len(batch)}, features)")
            out.append(feats.double().cpu().numpy())
    if not out:
        raise ValueError("no videos given")
    return np.concatenate(out)


def fvd(
    real: Iterable[np.ndarray],
    generated: Iterable[np.ndarray],
    i3d_path: str | Path,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> float:
    """FVD between two sets of uint8 videos (T, H, W, 3) with the I3D file at ``i3d_path``."""
    model = load_i3d(i3d_path, device)
    return frechet_distance(
        i3d_features(real, model, batch_size, device), i3d_features(generated, model, batch_size, device)
    )
