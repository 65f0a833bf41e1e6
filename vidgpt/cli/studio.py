"""`vidgpt-studio`: the browser page (vidgpt/studio/app.py), offline and on 127.0.0.1 by default."""

from __future__ import annotations

from omegaconf import DictConfig

from vidgpt.cli.app import hydra_app
from vidgpt.cli.generate import model_folder
from vidgpt.cli.options import Choice, Device, Flag, Number, Text
from vidgpt.generator import DTYPES, VideoGenerator

OPTIONS = {
    "model": Text(optional=True),
    "port": Number(int, minimum=1, maximum=65535),
    "host": Text(),
    "share": Flag(),
    "dtype": Choice(tuple(DTYPES)),
    "device": Device(),
}


def studio(cfg: DictConfig) -> None:
    try:
        from vidgpt.studio.app import launch  # noqa: PLC0415
    except ImportError as e:
        raise ValueError(f"the studio needs its extra: pip install \".[studio]\" ({e.name} is missing)") from None
    generator = VideoGenerator.from_pretrained(model_folder(cfg.model), device=cfg.device, dtype=cfg.dtype)
    print(f"vidgpt studio: http://{cfg.host}:{cfg.port}  (Ctrl-C stops it)", flush=True)
    launch(generator, port=cfg.port, host=cfg.host, share=cfg.share, out_dir=cfg.out_dir)


main = hydra_app("studio", OPTIONS)(studio)

if __name__ == "__main__":
    main()
