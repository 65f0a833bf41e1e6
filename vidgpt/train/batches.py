"""Stage-2 batches, from either data path.

- Pre-tokenized: `TokenShardDataset` items {"codes", "caption"} -> batch {"prompt_ids", "codes", "caption"}.
- On the fly: video items {"video", "caption"} -> batch {"prompt_ids", "video", "caption"}; the
  LightningModule turns "video" into "codes" with its frozen tokenizer (`encode_frozen`) on the device.

Captions become prompt ids here, in the DataLoader workers, so the training loop never touches strings.
"""

from __future__ import annotations

import torch
from torch import nn

from vidgpt.model import PromptVocab


class GPTCollate:
    """collate_fn: captions -> PAD-padded prompt ids (B, prompt_length); codes or videos stacked."""

    def __init__(self, prompt_vocab: PromptVocab, prompt_length: int) -> None:
        self.prompt_vocab = prompt_vocab
        self.prompt_length = prompt_length

    def __call__(self, items: list[dict]) -> dict:
        if not items:
            raise ValueError("GPTCollate: empty batch")
        captions = [str(it["caption"]) for it in items]
        batch: dict = {"prompt_ids": self.prompt_vocab.encode(captions, self.prompt_length), "caption": captions}
        if "codes" in items[0]:
            batch["codes"] = torch.stack([torch.as_tensor(it["codes"]).long() for it in items])
        elif "video" in items[0]:
            batch["video"] = torch.stack([it["video"] for it in items])
        else:
            raise ValueError(f"GPTCollate: items need 'codes' or 'video', got keys {sorted(items[0])}")
        if "switch" in items[0]:  # a prompt-change clip: the loss counts from its change (0: all of it)
            batch["switch"] = torch.tensor([int(it["switch"]) for it in items])
        return batch


def drop_prompts(prompt_ids: torch.Tensor, p: float, pad_id: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each row, independently with probability `p`, by the all-PAD (null) prompt.

    Training on the null prompt this often is what gives classifier-free guidance its unconditional model.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"prompt_dropout must lie in [0, 1], got {p}")
    if p == 0.0:
        return prompt_ids
    drop = torch.rand(prompt_ids.shape[0], generator=generator, device=generator.device if generator else prompt_ids.device)
    return prompt_ids.masked_fill(drop.to(prompt_ids.device)[:, None] < p, pad_id)


@torch.no_grad()
def encode_frozen(tokenizer: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """Codes (B, t, h, w) of a float video batch, from a frozen tokenizer in eval mode and float32.

    Autocast is off so that the codes do not depend on the Trainer's precision (and match pre-tokenized ones).
    """
    if tokenizer.training:
        tokenizer.eval()
    with torch.autocast(video.device.type, enabled=False):
        return tokenizer.encode(video.float())
