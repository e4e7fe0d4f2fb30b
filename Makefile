# Two entry points for people: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Label Studio (the labelling tool the bridge of services/labelstudio talks to) in a virtual
# environment of its own, so its pins never touch ours; the integration tests start it.
LS_VENV    := .venv-labelstudio
LS_STAMP   := $(LS_VENV)/.installed
LABEL_STUDIO_VERSION := 1.23.2
PROTOS := $(shell find protos -name '*.proto' 2>/dev/null)
ARCHIVE ?= ../shared/data/ucmerced
PYTEST_ARGS ?=

.PHONY: install proto demo test lint typecheck pytest k8s-check experiment clean labelstudio

install: $(STAMP) annealpb/.generated

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' --config-settings editable_mode=compat
	touch $@

labelstudio: $(LS_STAMP)
$(LS_STAMP):
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip
	$(LS_VENV)/bin/pip install -q label-studio==$(LABEL_STUDIO_VERSION)
	touch $@

# Generated gRPC code: built from protos/, never edited by hand, never committed.
proto: annealpb/.generated
annealpb/.generated: $(PROTOS) $(STAMP)
	rm -rf annealpb
	@if [ -n "$(PROTOS)" ]; then \
	  $(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS) && \
	  find annealpb -type d -exec touch {}/__init__.py \; ; \
	else mkdir -p annealpb; fi
	touch $@

demo: install
	$(PY) -m services.demo --archive $(ARCHIVE)

lint: install
	$(VENV)/bin/ruff check anneal services tests bench
	$(VENV)/bin/ruff format --check anneal services tests bench
typecheck: install
	$(VENV)/bin/mypy anneal services

pytest: install $(LS_STAMP)
	$(VENV)/bin/pytest -m "not slow and not gpu" $(PYTEST_ARGS)

test: lint typecheck pytest

# Offline checks of the Kubernetes manifests (also part of `pytest`).
k8s-check: install
	$(VENV)/bin/pytest tests/k8s -q

experiment: install
	$(VENV)/bin/anneal experiment --archive $(ARCHIVE) --strategies mgue,bcgue,random --budget 100 --rounds 10 --seeds 3

clean:
	rm -rf annealpb .pytest_cache .mypy_cache .ruff_cache
