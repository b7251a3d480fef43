# Every target sets itself up: a .venv is made if missing and what the target needs is installed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test fuzz bench bench-scaling clean

$(VENV)/.installed-demo: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[progress,plot]'
	touch $@

$(VENV)/.installed-test: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m chainrule train xor

test: $(VENV)/.installed-test
	$(PY) -m pytest

# The differential fuzzer's long run: thousands of random programs in PyTorch and chainrule, mismatches by kind.
fuzz: $(VENV)/.installed-test
	$(PY) tests/fuzz_report.py --programs $(or $(PROGRAMS),5000)

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks.run

bench-scaling: $(VENV)/.installed-bench
	$(PY) -m benchmarks.scaling

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
