# Everything a fresh machine needs: `make demo` runs the main job, `make test` the tests.
# Both create .venv on first use (CPU torch pinned by constraints.txt) and reuse it after.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-extras install clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pathpatch demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Only the tests marked slow (CI runs them after `make test`); exit 5 = none collected.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow || [ $$? -eq 5 ]

# The optional TransformerLens adapter (extra `transformer-lens`, transformer_lens<4): install, test.
test-extras: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,transformer-lens]'
	$(BIN)/python -m pytest tests/test_tlens.py

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
