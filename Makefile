# Two commands a newcomer types on a fresh clone: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench train-demo shipped-model clean

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
	$(PY) -m pytest -q

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

# The shipped model from scratch, seed 0, the default recipes (about 3 hours on 2 cores).
shipped-model: $(STAMP)
	$(VENV)/bin/vidtok-train experiment=tokenizer_shapes
	$(VENV)/bin/vidgpt-train experiment=gpt_shapes
	$(VENV)/bin/vidgpt-train experiment=gpt_diagonal_finetune init_from=runs/gpt-shapes hydra.run.dir=runs/gpt-shapes-diagonal
	$(VENV)/bin/vidgpt-evaluate model=runs/gpt-shapes-diagonal schedules=[raster,diagonal] out_dir=runs/gpt-shapes-diagonal/eval
	$(PY) -m tools.ship_model --run runs/gpt-shapes-diagonal --eval runs/gpt-shapes-diagonal/eval/report.json

clean:
	rm -rf $(VENV) outputs multirun
