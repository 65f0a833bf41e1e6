"""Suite-wide settings.

One torch thread: the test models are tiny, and on a 2-core machine intra-op threads cost more in
synchronisation than they give (up to 20x slower under load). Benchmarks set their own threads.
"""

import torch

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A model folder (tokenizer/ + gpt/) with tiny random weights: what stage 2 exports, in miniature."""
    from vidgpt.model import PromptVocab, VidGPT, tokenizer_identity
    from vidtok.shapes.world import SPLITS, split_combinations
    from vidtok.model import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("model")
    tokenizer = VideoTokenizer(TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8], codebook_size=64)).eval()
    tokenizer.save_pretrained(root / "tokenizer")
    captions = [a.caption for s in SPLITS for a in split_combinations(s)]
    prompt = PromptVocab.fit(captions, vocab_size=300)
    gpt = VidGPT.build(prompt, tokenizer.latent_shape(9, 32, 32), tokenizer.codebook_size, prompt_length=16,
                       preset="tiny", tokenizer=tokenizer_identity(tokenizer, 9, 32, 32))
    gpt.save_pretrained(root / "gpt")
    return root


@pytest.fixture(scope="session")
def adapter_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model folder with a new change adapter in its GPT (B = 0: it changes no video yet)."""
    import shutil

    from vidgpt.model import VidGPT

    root = tmp_path_factory.mktemp("adapter-model") / "model"
    shutil.copytree(tiny_model_dir, root)
    gpt = VidGPT.from_pretrained(root / "gpt")
    gpt.attach_change_adapter(2)
    gpt.save_pretrained(root / "gpt")
    return root
