# Two commands do all the set-up on a fresh machine (see README):
#   make demo   the whole pipeline with demo traffic on local defaults
#   make test   ruff, mypy and the whole test suite against real services
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test install infra-up infra-down

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q pip==25.3
	$(VENV)/bin/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/failstream demo $(if $(SECONDS),--seconds $(SECONDS),)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

infra-up: $(STAMP)
	$(VENV)/bin/failstream infra up

infra-down: $(STAMP)
	$(VENV)/bin/failstream infra down
