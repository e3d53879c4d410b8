# lotr-edge: the two commands of the README.
#   make demo   set up, build, and run the main job
#   make test   set up and run every test (what .ci/run calls)
# Both install what they need on Debian 12 (scripts/setup.sh) and are idempotent.

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

demo: build
	@echo "== kernel paths on this CPU (* = in use)"
	@.build/release/lotr kernels
	@echo "== int8 kernels vs OpenBLAS SGEMM on LOTR-M's shapes"
	@.build/release/lotr bench-kernels --runs 3

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
