# Two commands do all set-up on a fresh Debian machine (Python 3.11+, Node 20, npm):
#   make demo   installs what is missing (ffmpeg too), builds vendor/ and the test streams,
#               starts the emulator, prints the URL
#   make test   the same set-up plus Debian's chromium, nginx, firefox-esr and WebKitGTK and the
#               release artifacts, then lint, types and the whole suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test check vendor dist chromium nginx engines ffmpeg streams clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# vendor/ is rebuilt only when one of its inputs changed (the build takes ~25 s): the pinned npm
# packages, the package's sources (its wheel, the shim, the interpreter modules) and the tools
# (isolation.js goes to the release bundle only).
VENDOR_INPUTS := pyproject.toml tools/build_vendor.py tools/seal_runtime.py \
  $(filter-out mediacollect/isolation.js,$(wildcard mediacollect/*.py mediacollect/*.js mediacollect/*.mjs tools/*.mjs))
VENDOR_STAMP := vendor/.built

vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): $(INSTALLED) node_modules/.package-lock.json $(VENDOR_INPUTS)
	$(PY) tools/build_vendor.py
	touch $@

# The release artifacts: wheel, sdist and the static site bundle (README, "Add it to your site").
dist: vendor
	$(PY) tools/build_dist.py

demo: vendor streams
	$(PY) -m mediacollect_emulator

# The adaptive test streams (HLS, DASH) the player pages play, made by Debian's ffmpeg into
# build/streams/ (outside git; remade only when tests/streams.py's recipe changes, ~7 s).
streams: ffmpeg $(INSTALLED)
	$(PY) -m tests.streams

ffmpeg:
	@[ -x /usr/bin/ffmpeg ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg; }

chromium:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# The hosting recipe's tests run Debian's nginx as a plain process (never the system service).
nginx:
	@[ -x /usr/sbin/nginx ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx; }

# Firefox ESR and WebKitGTK (WebKitWebDriver, on an Xvfb display; GStreamer plays the webm media).
engines:
	@[ -x /usr/bin/firefox-esr ] && [ -x /usr/bin/WebKitWebDriver ] && [ -x /usr/bin/Xvfb ] || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  firefox-esr webkit2gtk-driver xvfb gstreamer1.0-plugins-base gstreamer1.0-plugins-good; }

check: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The tests that drive no browser run on two processes (pytest-xdist); the browser tests one at a
# time, as two browsers at once on two cores stall each other's video and fail timing assertions.
# Both parts run whatever the first one's outcome; the target fails if either failed.
test: chromium nginx engines ffmpeg dist check
	status=0; $(PY) -m pytest -m 'not browser' -n 2 || status=$$?; \
	  $(PY) -m pytest -m browser || status=$$?; exit $$status

clean:
	rm -rf vendor build dist node_modules $(VENV)
