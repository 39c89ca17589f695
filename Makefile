# Two commands set up a fresh Debian machine (README): `make run` and `make test`.
# Each installs what is missing: apt packages (as root), a venv, the pip packages.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT_RUN  := ffmpeg
APT_TEST := ffmpeg fluidsynth fluid-soundfont-gm chromium wesnoth-1.16-music fretsonfire-songs-muldjord fretsonfire-songs-sectoid hydrogen
APT_BENCH := lmms  # renders its demo songs: a rhythm source of the benchmarks only (Hydrogen, in APT_TEST, is one too)
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test bench apt-run apt-test apt-bench venv clean check-space-requirements

run: apt-run $(VENV)/.installed
	$(PY) app.py $(ARGS)

test: apt-test $(VENV)/.installed-dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: apt-test apt-bench $(VENV)/.installed-dev
	$(PY) -m pip install -q -r requirements-bench.txt
	$(PY) benchmarks/bench_predict.py
	$(PY) benchmarks/bench_short_clips.py
	$(PY) benchmarks/bench_theory.py
	$(PY) benchmarks/bench_loudness.py
	$(PY) benchmarks/bench_tuning.py
	$(PY) benchmarks/fit_key.py
	$(PY) benchmarks/fit_chords.py
	$(PY) benchmarks/bench_harmony.py
	$(PY) benchmarks/bench_structure.py
	$(PY) benchmarks/fit_octave.py
	$(PY) benchmarks/fit_meter.py
	$(PY) benchmarks/bench_rhythm.py
	$(PY) benchmarks/rhythm_at_revision.py
	$(PY) benchmarks/bench_app.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_batch.py

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

apt-bench:
	$(call apt_install,$(APT_BENCH))

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# requirements.txt is what the Space installs; its --extra-index-url line (the CPU build of torch)
# is dropped here, where that index is out of reach and the same CPU wheel lies on the local index.
# The package itself goes in editable (`pip install -e .`), so its console scripts (genre-predict,
# genre-theory, genre-train) and `import genre_model` work from any folder.
LOCAL_REQ := $(VENV)/requirements-local.txt
$(LOCAL_REQ): requirements.txt | $(VENV)/bin/python
	sed '/^--extra-index-url/d' requirements.txt > $@

$(VENV)/.installed: $(LOCAL_REQ) pyproject.toml
	$(PY) -m pip install -q -r $(LOCAL_REQ)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: $(LOCAL_REQ) requirements-train.txt requirements-dev.txt pyproject.toml
	$(PY) -m pip install -q -r $(LOCAL_REQ) -r requirements-train.txt -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.installed

# What the Space would install, resolved in a fresh venv, then the app imported (CI runs it).
check-space-requirements: $(LOCAL_REQ)
	rm -rf /tmp/space-venv && $(PYTHON) -m venv /tmp/space-venv
	/tmp/space-venv/bin/python -m pip install -q -r $(LOCAL_REQ)
	cd /tmp && PYTHONPATH=$(CURDIR) GRADIO_ANALYTICS_ENABLED=False /tmp/space-venv/bin/python -c "import app, genre_model.theory, genre_model.predict; print('space requirements: app imports')"

clean:
	rm -rf $(VENV) .pytest_cache
