# Two commands a newcomer types on a fresh clone: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench train-demo clean

setup: $(STAMP)

# torch goes in first and pinned: on these machines `torch==2.13.0` is the local CPU wheel,
# whereas an unpinned torch pulled in by a dependency would fetch several GB of CUDA packages.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m vidtok.demo

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) tools/bench.py

# Both stages from scratch on Shapes in about 30 minutes on 2 cores, then a few samples.
# Lower quality than a full recipe run (experiment=tokenizer_shapes / gpt_shapes).
train-demo: $(STAMP)
	$(VENV)/bin/vidtok-train experiment=tokenizer_shapes trainer.max_time=00:00:12:00 recipe.max_minutes=12 \
		hydra.run.dir=runs/demo/tokenizer-run
	$(VENV)/bin/vidgpt-train experiment=gpt_shapes trainer.max_time=00:00:15:00 \
		tokenizer_dir=runs/demo/tokenizer-run/tokenizer hydra.run.dir=runs/demo/model
	$(VENV)/bin/vidgpt-generate model=runs/demo/model out_dir=outputs/train-demo samples=2

clean:
	rm -rf $(VENV) outputs multirun
