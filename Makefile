# Two commands do all set-up on a fresh Debian machine (Python 3.11+, Node 20, npm):
#   make demo   installs what is missing, builds vendor/, starts the emulator, prints the URL
#   make test   the same set-up plus Debian's chromium, firefox-esr and WebKitGTK, then lint, types
#               and the whole suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test check vendor chromium engines clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

vendor: $(INSTALLED) node_modules/.package-lock.json
	$(PY) tools/build_vendor.py

demo: vendor
	$(PY) -m mediacollect_emulator

chromium:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Firefox ESR and WebKitGTK (WebKitWebDriver, on an Xvfb display; GStreamer plays the webm media).
engines:
	@[ -x /usr/bin/firefox-esr ] && [ -x /usr/bin/WebKitWebDriver ] && [ -x /usr/bin/Xvfb ] || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  firefox-esr webkit2gtk-driver xvfb gstreamer1.0-plugins-base gstreamer1.0-plugins-good; }

check: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: chromium engines vendor check
	$(PY) -m pytest

clean:
	rm -rf vendor build dist node_modules $(VENV)
