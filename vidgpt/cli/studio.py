"""`vidgpt-studio`: the browser page (vidgpt/studio/app.py), offline and on 127.0.0.1 by default."""

from __future__ import annotations

import errno
import socket

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
    "out_dir": Text(),
}


def check_listen(host: str, port: int) -> None:
    """Whether the page can be served on host:port, asked now rather than after the model has loaded."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise ValueError(f"host={host!r}: not a name or address this machine can serve on ({e})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise ValueError(f"host={host!r}: not an address of this machine ({e.strerror})") from None
            what = "in use (another studio?): pick another port" if e.errno == errno.EADDRINUSE else e.strerror
            raise ValueError(f"port={port}: cannot serve on {host}:{port}, {what}") from None


def studio(cfg: DictConfig) -> None:
    check_listen(str(cfg.host), cfg.port)
    folder = model_folder(cfg.model)
    try:
        from vidgpt.studio.app import launch  # noqa: PLC0415
    except ImportError as e:
        raise ValueError(f"the studio needs its extra: pip install \".[studio]\" ({e.name} is missing)") from None
    generator = VideoGenerator.from_pretrained(folder, device=cfg.device, dtype=cfg.dtype)
    print(f"vidgpt studio: http://{cfg.host}:{cfg.port}  (Ctrl-C stops it)", flush=True)
    launch(generator, port=cfg.port, host=cfg.host, share=cfg.share, out_dir=cfg.out_dir)


main = hydra_app("studio", OPTIONS)(studio)

if __name__ == "__main__":
    main()
