# Two commands on a fresh clone: `make demo` and `make test`.
# Each creates .venv if needed, installs torch==2.13.0 first (the local CPU wheel; an unpinned
# torch would pull gigabytes of CUDA), then magplus with its extras, then does its job.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.magplus-installed

.PHONY: demo test install clean

# mediapipe is installed without its declared dependencies (jax, jaxlib, GUI OpenCV, sounddevice,
# sentencepiece): face landmarks need none of them, and the GUI OpenCV would clash with the headless
# one. The lean set it does import is in magplus's own dependencies. pip's after-install check
# would report those missing dependencies as an ERROR on every fresh install, so it is off for the
# step that installs magplus (install errors still stop make); `pip check` then prints every other
# conflict. (Listing mediapipe in an extra cannot avoid this: pip would install jax and the GUI
# OpenCV for it; see the `test` extra in pyproject.toml.)
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps mediapipe==0.10.21
	$(PIP) install -q --no-warn-conflicts -e ".[test,xlsx,app,ray]"
	@$(PIP) check | grep -v -E '^mediapipe 0\.10\.21 requires (jax|jaxlib|opencv-contrib-python|sentencepiece|sounddevice),' \
		| grep -v '^No broken requirements found' || true
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/magplus demo --out out

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache
