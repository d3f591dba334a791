# One-command entry points. Every target creates/reuses .venv, installs the
# project into it, and installs iverilog with apt when it is missing.
#   make sim    co-verify the RTL against the golden model (SIM=icarus|verilator)
#   make test   lint, format check and the whole pytest suite (both simulators)
#   make test-seeds  every seeded test under 10 seeds (SEEDS=...)
#   make rtl    write synthesizable Verilog to build/rtl/
#   make bench  print simulation-speed figures
#   make ppa    area/timing/power of the fixed-point NMPU vs the FP16 baseline (OSU 0.18 um)
#   make format-sweep  accuracy per NMPU format on mnist1d (float, FP16, fixed)
#   make sweep  a sweep spec's points as Dask tasks, Parquet rows (SPEC=sweeps/quick.toml)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SIM    ?= icarus
CAPTURE ?=
SEED   ?=
WAVES  ?=
BUILD_DIR ?=
SIM_ARGS ?=
JOBS   ?= 2
SEEDS  ?= 1 2 3 4 5 6 7 8 9 10

.PHONY: sim test test-seeds rtl bench ppa format-sweep adc-report adc-study sweep capture network lint deps deps-aihwkit deps-yosys clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP)
	@bash tools/ensure_apt.sh iverilog iverilog "cocotb simulations" \
	  ccache ccache "Verilator builds share their compiled C++" \
	  yosys yosys "synthesis with ABC" \
	  $(OSU018_LIB) qflow-tech-osu018 "OSU 0.18 um standard cells for make ppa and the gate-level test" \
	  sta opensta "static timing and power for make ppa"

# Debian's Yosys (runs ABC; the PyPI WebAssembly build stops inside ABC here), the OSU 0.18 um
# cells and OpenSTA, for make ppa (flows/stdcell.py).
OSU018_LIB := /usr/share/qflow/tech/osu018/osu018_stdcells.lib
deps-yosys:
	@bash tools/ensure_apt.sh yosys yosys "synthesis with ABC" \
	  $(OSU018_LIB) qflow-tech-osu018 "OSU 0.18 um standard cells" \
	  sta opensta "static timing and power"

# aihwkit without its torchvision pin (see pyproject's `aihwkit` extra).
AIHWKIT_STAMP := $(VENV)/.aihwkit
$(AIHWKIT_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[aihwkit]'
	$(PY) -m pip install -q --no-deps 'aihwkit==1.1.0'
	touch $(AIHWKIT_STAMP)
deps-aihwkit: $(AIHWKIT_STAMP)

# WAVES=1: FST waveform (path printed); BUILD_DIR=dir: build folders under dir; UNIT=fp16: FP16 baseline unit;
# SIM_ARGS: more tools.sim options (e.g. --allow-large, --adc-ideal).
sim: deps
	$(PY) -m tools.sim --sim $(SIM) $(if $(CAPTURE),--capture $(CAPTURE)) $(if $(SEED),--seed $(SEED)) \
	  $(if $(filter 1 yes true,$(WAVES)),--waves) $(if $(BUILD_DIR),--build-dir $(BUILD_DIR)) $(SIM_ARGS) \
	  $(if $(UNIT),--unit $(UNIT))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: deps deps-aihwkit lint
	$(PY) -m pytest -n $(JOBS) --dist load --maxschedchunk 1 --durations=15 $(PYTEST_ARGS)

# Every seeded test (seed fixture or hypothesis) once per seed in SEEDS: chance failures show
# here, not in CI. Not part of `make test` (about ten times its simulation time).
test-seeds: deps deps-aihwkit
	@failed=""; for s in $(SEEDS); do echo "== SEED=$$s"; \
	  SEED=$$s $(PY) -m pytest -n $(JOBS) --dist load --maxschedchunk 1 -q --seeded-only $(PYTEST_ARGS) \
	    || failed="$$failed $$s"; done; \
	if [ -n "$$failed" ]; then echo "test-seeds: failures under SEED=$$failed"; exit 1; fi; \
	echo "test-seeds: every seeded test passed under SEED=$(SEEDS)"

rtl: $(STAMP)
	$(PY) -m tools.rtl --out build/rtl --axi

bench: deps
	$(PY) -m tools.benchmark

# Paper configuration by default; PPA_ARGS="--columns 64 --lanes 16" scales it down.
ppa: $(STAMP) deps-yosys
	$(PY) -m tools.ppa --out build/reports $(PPA_ARGS)

# Accuracy (float / FP16 / fixed) per NMPU format variant on mnist1d (about 30 s).
format-sweep: $(STAMP)
	$(PY) -m tools.format_sweep --out build/reports

adc-report: $(STAMP)
	$(PY) -m tools.adc_report --out build/reports

# ADC-aware training vs per-column calibration (torch from the aihwkit extra; Icarus,
# Verilator and Yosys for the RTL rows and the correction-stage area): the recipe sweep on
# the validation split and the Monte Carlo sweep on a LocalCluster (ADC_STUDY_ARGS:
# --scheduler tcp://H:P for a cluster), then the one-run table. ~46 min on 2 cores.
adc-study: deps deps-aihwkit
	$(PY) -m tools.adc_study --out build/reports $(ADC_STUDY_ARGS)

# A sweep (docs/sweeps.md): every point of SPEC a task on a LocalCluster (one worker per
# core), rows in build/sweeps/<name>/points/*.parquet; SWEEP_ARGS: --scheduler tcp://H:P,
# --workers N, --out DIR. A rerun skips finished points. torch from the aihwkit extra.
SPEC ?= sweeps/quick.toml
sweep: deps deps-aihwkit
	$(PY) -m tools.sweep $(SPEC) $(SWEEP_ARGS)

# Regenerate the committed captures (same seeds -> same files).
capture: deps-aihwkit
	$(PY) -m tools.capture --simulator builtin --out captures/builtin_digits.npz
	$(PY) -m tools.capture --simulator aihwkit --out captures/aihwkit_digits.npz
	$(PY) -m tools.capture --simulator builtin --out captures/builtin_digits_256.npz \
	  --vectors 48 --hidden 256 --lanes 64 --input-bits 4 --mlp-cache captures/digits_mlp_256x4.npz

# The whole digits network on the tile, every layer co-verified on the RTL (SIM=icarus|verilator);
# NETWORK_ARGS: more tools.network options (e.g. --vectors 48, --network mlp32).
network: deps
	$(PY) -m tools.network --out build/network --sim $(SIM) $(NETWORK_ARGS)

clean:
	rm -rf build
