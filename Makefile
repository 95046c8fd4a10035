# Two commands for a fresh machine: `make demo` and `make test` (each creates .venv and installs first).
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned here (a CPU wheel this machine has on disk); pyproject.toml allows a range for GPU users.
TORCH ?= torch==2.13.0

.PHONY: install demo test test-all validate validate-quick bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	mkdir -p out
	$(PY) -m dlpde solve poisson-2d --solver pinn --optimizer engd --out out/poisson-2d.h5 --plot out/poisson-2d.png

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

validate: install
	$(PY) validation/run.py --threads 1

validate-quick: install
	$(PY) validation/run.py --quick --out out/validation-quick

bench: install
	$(PY) benchmarks/pinn_step.py --threads 2

clean:
	rm -rf $(VENV) out .pytest_cache
