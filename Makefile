# Set-up is `make install` (run by `train` and `test` too): a virtualenv in .venv with
# torch pinned to the CPU wheel this machine has. Elsewhere: make install TORCH='torch>=2.2'.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CONFIG ?= configs/quickstart.yaml
RUN ?= runs/quickstart
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install bench-install bench-recbole train evaluate test lint bench gallery clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '$(TORCH)'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,parquet,plot,stats,tensorboard,tune]'
	touch $(STAMP)

train: install  ## train + evaluate on the embedded default
	$(BIN)/recbce train --config $(CONFIG) --overwrite

evaluate: install
	$(BIN)/recbce evaluate --run $(RUN)

# One pytest worker per core (pytest-xdist), each torch on one thread so that the workers do not
# oversubscribe the cores; a module's tests stay on one worker (loadscope), so its shared fixtures
# (a trained run, a torchrun launch, a study) are built once. `pytest tests/test_x.py`: one process.
# Bytecode is cached even where the environment says not to (PYTHONDONTWRITEBYTECODE): each
# worker would otherwise rewrite and compile every test module again.
test: install
	PYTHONDONTWRITEBYTECODE= OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist loadscope

lint: install
	$(BIN)/ruff check recbce tests bench

# The peers (implicit, Cornac, lightfm-next) are the optional `bench` extra: only `make bench` installs them.
BENCH_STAMP := $(VENV)/.bench-installed

bench-install: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $(BENCH_STAMP)

# RecBole 1.2.1 (the peers recbole-bpr, recbole-lightgcn) needs numpy < 2 and its quick_start
# imports ray, which needs pkg_resources (setuptools < 81); it was written for pandas < 3 (under
# pandas 3's copy-on-write its in-place fillna does nothing); its LightGCN builds its graph with
# dok_matrix._update, gone in scipy 1.13: its own virtualenv, with recbce in it so
# bench/peers/worker.py runs there. `make bench` builds it only when the peers benchmark is selected.
# bench/peers/venv.py looks for it here.
RECBOLE_VENV := .venv-recbole
RECBOLE_STAMP := $(RECBOLE_VENV)/.installed

bench-recbole: $(RECBOLE_STAMP)

$(RECBOLE_STAMP): pyproject.toml
	test -x $(RECBOLE_VENV)/bin/python || $(PYTHON) -m venv $(RECBOLE_VENV)
	$(RECBOLE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(TORCH)'
	$(RECBOLE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  'numpy<2' 'pandas<3' 'scipy<1.13' 'setuptools<81' 'recbole==1.2.1' -e .
	touch $(RECBOLE_STAMP)

BENCH_PEERS := $(if $(ONLY),$(filter peers,$(ONLY)),peers)

bench: install bench-install $(if $(BENCH_PEERS),bench-recbole)  ## every bench/bench_*.py (or ONLY="sampler eval"), then BENCHMARKS.md
	ONLY="$(ONLY)" $(BIN)/python -m bench.run

# README pictures from real runs on the quickstart data: three sampler ratios, their curves
# overlaid, one run's own curves, and a loss x ratio sweep. GALLERY_EPOCHS=3 for a quick look.
GALLERY_RUNS ?= runs/gallery
GALLERY_EPOCHS ?= 10
gallery: install
	for ratio in 1 4 16; do \
	  $(BIN)/recbce --quiet train --config $(CONFIG) --overwrite --set run.dir=$(GALLERY_RUNS) \
	    --set run.name=ratio$$ratio --set sampler.ratio=$$ratio --set train.epochs=$(GALLERY_EPOCHS) \
	    || exit 1; \
	done
	mkdir -p docs/img
	$(BIN)/recbce plot $(GALLERY_RUNS)/ratio4 --out docs/img/curves.png
	$(BIN)/recbce plot $(GALLERY_RUNS)/ratio1 $(GALLERY_RUNS)/ratio4 $(GALLERY_RUNS)/ratio16 \
	  --out docs/img/ratios.png
	$(BIN)/recbce --quiet sweep --config $(CONFIG) --grid loss.name=bce,bpr,softmax \
	  --grid sampler.ratio=1,4,16 --set train.epochs=$(GALLERY_EPOCHS) --out $(GALLERY_RUNS)/sweep --overwrite
	cp $(GALLERY_RUNS)/sweep/sweep.png docs/img/sweep.png

clean:
	rm -rf runs .pytest_cache .ruff_cache .hypothesis build *.egg-info
