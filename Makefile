# Two commands on a fresh clone: `make demo` and `make test`.
# Each creates .venv if needed, installs torch==2.13.0 first (the local CPU wheel; an unpinned
# torch would pull gigabytes of CUDA), then magplus with its extras, then does its job.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.magplus-installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	# mediapipe without its declared dependencies (jax, GUI OpenCV); the lean set it needs is in
	# magplus's own dependencies.
	$(PIP) install -q --no-deps mediapipe==0.10.21
	$(PIP) install -q -e ".[test,xlsx,app,ray]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/magplus demo --out out

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache
