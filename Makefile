# sparsemcu: search -> prune -> export -> firmware -> board test.
# `make setup` once, then `make demo` (main job) or `make test`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SPARSEMCU := $(VENV)/bin/sparsemcu
# stlink-tools (st-flash) and openocd flash the Nucleo-F746ZG (pyocd, the third flasher, comes from PyPI: venv)
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm dataset-fashion-mnist postgresql stlink-tools openocd

BOARD ?= qemu_mps2_an500
RUN ?= runs/demo
OUT ?= out/$(notdir $(RUN))
TRIALS ?= 8
EPOCHS ?= 8
DATA ?= digits
LIMIT ?= 200
PORT ?=
PROTOCOL ?= sparsemcu
PYTEST_ARGS ?=

.PHONY: setup apt venv test test-fast demo search export build deploy bench clean

setup: apt venv

# Debian packages: installed when we are root (or have password-less sudo); otherwise listed.
apt:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null \
	    && command -v st-flash >/dev/null && command -v openocd >/dev/null \
	    && [ -d /usr/share/datasets/fashion-mnist ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "apt: toolchain, QEMU, Fashion-MNIST, PostgreSQL, st-flash and OpenOCD already installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	elif sudo -n true 2>/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	else \
	  echo "apt: cannot install packages (not root); please install: $(APT_PACKAGES)"; \
	fi

venv:
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=68" wheel
	$(PY) -m pip install -q -e ".[test,flash]"
	$(PY) -m pip install -q --no-deps "ortools==9.14.6206"  # why --no-deps: setup.cfg
	@echo "setup: done ($(VENV)/bin/sparsemcu)"

# All tests, slow and hardware-in-the-loop (QEMU) ones included: what CI runs.
test:
	$(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

# Quick subset while developing: no slow tests.
test-fast:
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow" $(PYTEST_ARGS)

# The main job: a small search on digits, export of the most accurate feasible point,
# firmware for $(BOARD), and a verified run on it (the emulated Cortex-M7 by default).
demo: search
	$(MAKE) deploy MODEL=$(RUN) BOARD=$(BOARD)

search:
	$(SPARSEMCU) search --dataset $(DATA) --board $(BOARD) --trials $(TRIALS) --epochs $(EPOCHS) --out $(RUN)

# make deploy BOARD=nucleo_f746 MODEL=path/to/model.tflite|model.keras|run-dir [PORT=/dev/ttyACM0] [PROTOCOL=mlperf]
# PROTOCOL=mlperf: firmware that speaks the MLPerf Tiny benchmark's UART commands (board_test/mlperf.py).
deploy:
	@[ -n "$(MODEL)" ] || { echo "usage: make deploy BOARD=<board> MODEL=<.tflite | .keras | search run dir>"; exit 2; }
	$(SPARSEMCU) export $(MODEL) --out $(OUT) --calib $(DATA) --board $(BOARD)
	$(SPARSEMCU) build $(OUT) --board $(BOARD) --protocol $(PROTOCOL)
	$(SPARSEMCU) deploy $(OUT) --board $(BOARD) --protocol $(PROTOCOL) --data $(DATA) --limit $(LIMIT) $(if $(PORT),--port $(PORT))

bench:
	$(PY) bench/bench_kernels.py
	$(PY) bench/bench_memory.py
	$(PY) bench/bench_export.py
	$(PY) bench/bench_boards.py
	$(PY) bench/bench_search.py

clean:
	rm -rf out runs .pytest_cache
