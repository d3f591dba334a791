# One-command entry points. Every target creates/reuses .venv, installs the
# project into it, and installs iverilog with apt when it is missing.
#   make sim    co-verify the RTL against the golden model (SIM=icarus|verilator)
#   make test   lint, format check and the whole pytest suite (both simulators)
#   make rtl    write synthesizable Verilog to build/rtl/
#   make bench  print simulation-speed figures
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SIM    ?= icarus
CAPTURE ?=
SEED   ?=
JOBS   ?= 2

.PHONY: sim test rtl bench adc-report capture lint deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP)
	@bash tools/ensure_iverilog.sh

sim: deps
	$(PY) -m tools.sim --sim $(SIM) $(if $(CAPTURE),--capture $(CAPTURE)) $(if $(SEED),--seed $(SEED))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: deps lint
	$(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

rtl: $(STAMP)
	$(PY) -m tools.rtl --out build/rtl

bench: deps
	$(PY) -m tools.bench

clean:
	rm -rf build
