"""Put a decoder-fine-tuned tokenizer into a model folder (gpt/ + tokenizer/), in place.

    vidtok-train experiment=tokenizer_decoder_finetune init_from=runs/gpt-shapes/tokenizer
    vidgpt-replace-decoder --model runs/gpt-shapes --tokenizer runs/tokenizer-decoder-ft/tokenizer

With --cut, the new tokenizer's decoder becomes the model tokenizer's cut decoder instead (vidtok.model.tokenizer,
"Cuts": it draws the latent frame after a prompt change), and the decoder stays:

    vidtok-train experiment=tokenizer_cut_decoder init_from=vidgpt/pretrained/shapes/tokenizer
    vidgpt-replace-decoder --model vidgpt/pretrained/shapes --tokenizer runs/tokenizer-cut-decoder/tokenizer --cut

The new tokenizer must make the same codes as the model's own (same config, encoder and quantizer, so the
same fingerprint): then the GPT needs no retraining, and only the drawing of its codes changes. The GPT's
recorded fingerprint is rewritten in today's form; one recorded before the fingerprint left the decoder
out hashed the old decoder too, and would no longer match.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from safetensors.torch import save_file

from vidgpt.cli.app import CommandParser, argparse_app

from vidgpt.generator import MODEL_GPT, MODEL_TOKENIZER, VideoGenerator
from vidgpt.model.config import VidGPTConfig
from vidgpt.model.gpt import CONFIG_FILE
from vidtok.model.fingerprint import DECODER_PREFIX, fingerprint_matches, tokenizer_fingerprint
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.model.config import PADDINGS
from vidtok.model.tokenizer import CUT_DECODER_NAME
from vidtok.io.atomic import replace_file, atomic_folder, temp_beside


def replace_decoder(model: Path, tokenizer: Path, decoder_padding: str | None = None, cut: bool = False) -> str:
    """Swap `tokenizer` into `model`/tokenizer after checking it makes the same codes; returns its fingerprint.

    decoder_padding: also switch the decoder's padding ("zeros" or "circular"; it has no weights of its own).
    cut: install its decoder as the cut decoder of the model's tokenizer, which keeps its own decoder.
    """
    for path in (model / MODEL_GPT / CONFIG_FILE, model / MODEL_TOKENIZER / "config.json", tokenizer / "config.json"):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: --model takes a model folder, --tokenizer a tokenizer folder")
    old, new = VideoTokenizer.from_pretrained(model / MODEL_TOKENIZER), VideoTokenizer.from_pretrained(tokenizer)
    fingerprint = tokenizer_fingerprint(new)
    if fingerprint != tokenizer_fingerprint(old):
        raise ValueError(f"{tokenizer} makes other codes than {model / MODEL_TOKENIZER} (config, encoder or quantizer "
                         "differ): only a decoder fine-tune (recipe.freeze_encoder=true) can be swapped in")
    config_path = model / MODEL_GPT / CONFIG_FILE
    config = VidGPTConfig.load(config_path)
    ident = dict(config.tokenizer or {})
    recorded = ident.get("fingerprint")
    if recorded is not None and not fingerprint_matches(old, recorded):
        raise ValueError(f"{config_path} names another tokenizer than {model / MODEL_TOKENIZER}: the folder is not a pair")
    if cut:
        if decoder_padding is not None:
            raise ValueError("--decoder-padding changes the decoder; a cut decoder follows the tokenizer's padding")
        cut_state = {k: v.contiguous() for k, v in new.state_dict().items() if k.startswith(DECODER_PREFIX)}
        old.attach_cut_decoder(cut_state, source=str(tokenizer))  # refused here unless it fits
        with atomic_folder(model / MODEL_TOKENIZER, marker="config.json", durable=True) as tmp:
            shutil.copytree(model / MODEL_TOKENIZER, tmp, dirs_exist_ok=True)  # its notes too (train_config.json)
            save_file(cut_state, str(tmp / CUT_DECODER_NAME), metadata={"format": "pt"})
        VideoGenerator.from_pretrained(model)  # the pair loads and matches
        return fingerprint
    with atomic_folder(model / MODEL_TOKENIZER, marker="config.json", durable=True) as tmp:
        shutil.copytree(tokenizer, tmp, dirs_exist_ok=True)
        if decoder_padding is not None:
            TokenizerConfig.from_dict({**new.cfg.to_dict(), "decoder_padding": decoder_padding}).save(tmp / "config.json")
    if recorded is not None and recorded != fingerprint:
        config.tokenizer = {**ident, "fingerprint": fingerprint}
        tmp = temp_beside(config_path)
        config.save(tmp)
        replace_file(tmp, config_path)
    VideoGenerator.from_pretrained(model)  # the pair loads and matches
    return fingerprint


parser = CommandParser("vidgpt-replace-decoder", __doc__)
parser.add_argument("--model", required=True, help="a model folder (gpt/ + tokenizer/), changed in place")
parser.add_argument("--tokenizer", required=True, help="a decoder fine-tune of the model's tokenizer")
parser.add_argument("--decoder-padding", choices=PADDINGS, default=None,
                    help="also switch the decoder's padding (circular: for content that wraps around, as Shapes does)")
parser.add_argument("--cut", action="store_true",
                    help="install the decoder as the cut decoder (drawn after a prompt change) and keep the decoder")


@argparse_app(parser)
def main(args: argparse.Namespace) -> int:
    fingerprint = replace_decoder(Path(args.model), Path(args.tokenizer), args.decoder_padding, args.cut)
    what = "cut decoder" if args.cut else "tokenizer"
    print(f"{args.model}: {what} replaced by {args.tokenizer}'s (same codes, fingerprint {fingerprint[:12]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
