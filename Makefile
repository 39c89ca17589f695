# Two commands set up a fresh Debian machine (README): `make run` and `make test`.
# Each installs what is missing: apt packages (as root), a venv, the pip packages.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT_RUN  := ffmpeg
APT_TEST := ffmpeg fluidsynth fluid-soundfont-gm chromium wesnoth-1.16-music fretsonfire-songs-muldjord
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test bench apt-run apt-test venv clean

run: apt-run $(VENV)/.installed
	$(PY) app.py $(ARGS)

test: apt-test $(VENV)/.installed-dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_predict.py
	$(PY) benchmarks/bench_theory.py
	$(PY) benchmarks/bench_app.py
	$(PY) benchmarks/bench_training.py

# Install only the apt packages that are missing; skip quietly without root or apt.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "apt-get install$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "warning: missing apt packages:$$missing (install them as root)"; fi; fi
endef

apt-run:
	$(call apt_install,$(APT_RUN))

apt-test:
	$(call apt_install,$(APT_TEST))

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .pytest_cache
