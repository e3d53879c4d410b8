# lotr-edge: the two commands of the README.
#   make demo   set up, build, and run the main job
#   make test   set up and run every test (what .ci/run calls)
# Both install what they need on Debian 12 (scripts/setup.sh) and are idempotent.
# DEVICE=/dev/video0 make demo uses a camera instead of the bundled clip.

SWIFT ?= swift
export PATH := $(PATH):/opt/swift/usr/bin
PYTHON := .venv/bin/python

.PHONY: demo test setup setup-system setup-python build test-swift test-kernels test-python bench-kernels clean

setup: setup-system setup-python
setup-system:
	@scripts/setup.sh system
setup-python:
	@scripts/setup.sh python

build: setup-system
	$(SWIFT) build -c release --product lotr
	$(SWIFT) build -c release --product lotrd
	$(SWIFT) build -c release --product lotr-quantize

demo: setup-system
	@scripts/demo.sh

bench-kernels: build
	.build/release/lotr bench-kernels --runs 9 --threads 1,2

test: setup
	@scripts/run-tests.sh

test-swift: setup-system
	$(SWIFT) test
test-kernels: setup-system
	scripts/test-kernels-native.sh
test-python: setup-python
	$(PYTHON) -m pytest -q training/tests

clean:
	rm -rf .build .build-kernels
