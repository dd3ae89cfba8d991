# make demo: install into .venv and run the example end to end.  make test: install and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,examples]'
	@touch $(STAMP)
	@# byte-compile now: where PYTHONDONTWRITEBYTECODE is set, every command would compile mlxkit again
	@$(BIN)/python -m compileall -q src

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest -n auto -q

bench: $(STAMP)
	$(BIN)/python -m compileall -q src
	$(BIN)/python benchmarks/bench_store.py --mlx $(CURDIR)/$(BIN)/mlx
	$(BIN)/python benchmarks/bench_pipeline.py --mlx $(CURDIR)/$(BIN)/mlx
	$(BIN)/python benchmarks/bench_remote.py --mlx $(CURDIR)/$(BIN)/mlx
	$(BIN)/python benchmarks/bench_compare.py --mlx $(CURDIR)/$(BIN)/mlx

clean:
	rm -rf $(VENV) build src/*.egg-info
