# Two commands a newcomer types on a fresh clone: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench train-demo shipped-model natural-data natural-tokenizer clean

setup: $(STAMP)

# torch goes in first and pinned: on these machines `torch==2.13.0` is the local CPU wheel,
# whereas an unpinned torch pulled in by a dependency would fetch several GB of CUDA packages.
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --progress-bar off
$(STAMP): pyproject.toml
	@echo "setting up $(VENV) (torch first, then this package and its test tools)..."
	@python3 -m venv $(VENV)
	@$(PIP) --upgrade pip
	@$(PIP) "torch==2.13.0"
	@$(PIP) -e ".[dev]"
	@touch $(STAMP)
	@echo "ready: $(VENV)"

# Generates with the shipped model (vidgpt/pretrained/shapes): no training, no download.
demo: $(STAMP)
	$(VENV)/bin/vidgpt-generate prompt="a large blue triangle moves right slowly" samples=2 out_dir=outputs/demo

test: $(STAMP)
	$(PY) -m pytest -q -rs

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m tools.bench

# Both stages from scratch on Shapes in about 30 minutes on 2 cores, then a few samples.
# Lower quality than a full recipe run (experiment=tokenizer_shapes / gpt_shapes).
train-demo: $(STAMP)
	$(VENV)/bin/vidtok-train experiment=tokenizer_shapes trainer.max_time=00:00:12:00 recipe.max_minutes=12 \
		hydra.run.dir=runs/demo/tokenizer-run
	$(VENV)/bin/vidgpt-train experiment=gpt_shapes trainer.max_time=00:00:15:00 recipe.schedule_minutes=14 \
		gpt=mini data.batch_size=16 recipe.lr=0.002 recipe.warmup_steps=50 \
		tokenizer_dir=runs/demo/tokenizer-run/tokenizer hydra.run.dir=runs/demo/model
	$(VENV)/bin/vidgpt-generate model=runs/demo/model out_dir=outputs/train-demo samples=2

# The shipped model from scratch, seed 0 (about 13.5 hours on 2 cores: tokenizer 1 h, GPT 2 h, diagonal
# fine-tune 2 h, decoder on noisy codes 1 h, three clean fine-tunes 1.5 h each, the decoder after a prompt
# change 1 h, the GPT's change adapter 1.3 h, evaluation 0.5 h).
BASE := runs/gpt-clean-3
SHIP := runs/gpt-change-adapter
shipped-model: $(STAMP)
	$(VENV)/bin/vidtok-train experiment=tokenizer_shapes
	$(VENV)/bin/vidgpt-train experiment=gpt_shapes
	$(VENV)/bin/vidgpt-train experiment=gpt_diagonal_finetune init_from=runs/gpt-shapes hydra.run.dir=runs/gpt-shapes-diagonal
	$(VENV)/bin/vidtok-train experiment=tokenizer_decoder_denoise init_from=runs/gpt-shapes-diagonal/tokenizer
	$(VENV)/bin/vidgpt-replace-decoder --model runs/gpt-shapes-diagonal --tokenizer runs/tokenizer-decoder-denoise/tokenizer
	$(VENV)/bin/vidgpt-train experiment=gpt_clean_finetune init_from=runs/gpt-shapes-diagonal hydra.run.dir=runs/gpt-clean-1
	$(VENV)/bin/vidgpt-train experiment=gpt_clean_finetune init_from=runs/gpt-clean-1 hydra.run.dir=runs/gpt-clean-2
	$(VENV)/bin/vidgpt-train experiment=gpt_clean_finetune init_from=runs/gpt-clean-2 hydra.run.dir=$(BASE) \
		recipe.diagonal_mask_prob=0.75
	$(VENV)/bin/vidtok-train experiment=tokenizer_cut_decoder init_from=$(BASE)/tokenizer
	$(VENV)/bin/vidgpt-replace-decoder --model $(BASE) --tokenizer runs/tokenizer-cut-decoder/tokenizer --cut
	$(VENV)/bin/vidgpt-train experiment=gpt_change_adapter init_from=$(BASE) hydra.run.dir=$(SHIP)
	$(VENV)/bin/vidgpt-evaluate model=$(SHIP) per_split=384 schedules=[model,raster] out_dir=$(SHIP)/eval
	$(PY) -m tools.switch_table --model $(SHIP) --per-split 128 --out $(SHIP)/switch
	$(PY) -m tools.ship_model --run $(SHIP) --eval $(SHIP)/eval/report.json --switch $(SHIP)/switch/table.json

# The pictures the natural-footage tokenizer trains on, from Debian and PyPI packages (no download at run
# time; origins and licences in vidtok/data/packaged_images.py). Needs root for apt-get.
natural-data: $(STAMP)
	apt-get install -y -q mate-backgrounds plasma-workspace-wallpapers gnome-backgrounds
	$(PIP) -e ".[natural]"

# The shipped natural-footage tokenizer (vidtok/pretrained/natural) from scratch, seed 0: 100 minutes of
# training on 2 cores, then its evaluation and model card (about 5 minutes).
natural-tokenizer: natural-data
	$(VENV)/bin/vidtok-train experiment=tokenizer_natural
	$(PY) -m tools.ship_tokenizer --run runs/tokenizer-natural

clean:
	rm -rf $(VENV) outputs multirun
