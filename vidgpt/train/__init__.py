"""Stage-2 training (imports are per module, so pre-tokenizing does not pay for Lightning):

- `pretokenize.pretokenize`: dataset -> token shards + manifest (resumable, splittable across processes)
- `shards.TokenShardDataset`: verified shards -> {"codes", "caption"}
- `batches`: `GPTCollate` (captions -> prompt ids), `drop_prompts`, `encode_frozen` (on-the-fly codes)
- `module.GPTModule`: the LightningModule; `module.model_from_checkpoint`
- `fit.train_gpt`: the plain entry point the CLI calls
- `export.ExportCallback`: periodic and final exports of the model
"""
