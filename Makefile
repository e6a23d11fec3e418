# Everything a fresh machine needs: `make demo` runs the main job, `make test` the tests.
# Both create .venv on first use (CPU torch pinned by constraints.txt) and reuse it after.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_STAMP := $(VENV)/.lint-installed

.PHONY: demo test test-kernels test-slow test-extras lint mutation bench bench-autocircuit bench-discovery-autocircuit install clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(LINT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,lint]'
	touch $(LINT_STAMP)

# Style, format and types: ruff on src, tests and benchmarks; mypy on src (settings in pyproject.toml).
# The same checks run before each commit with `.venv/bin/pre-commit install` (.pre-commit-config.yaml).
lint: $(LINT_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/pathpatch demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The numerically sensitive tests (marked numeric) again, on ATen's portable kernels instead of the
# machine's vector ones: a second code path for every float comparison, as another CPU would take.
test-kernels: $(STAMP)
	ATEN_CPU_CAPABILITY=default $(BIN)/python -m pytest -m 'numeric and not slow'

# Only the tests marked slow (CI runs them after `make test`); exit 5 = none collected.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow || [ $$? -eq 5 ]

# The optional adapters: TransformerLens (extra `transformer-lens`, transformer_lens<4) and tracr
# (extra `tracr`: tracr-pypi with jax and dm-haiku on CPU; compiled RASP programs as ground-truth
# circuits). Install both, test both.
test-extras: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,transformer-lens,tracr,ray]'
	$(BIN)/python -m pytest -m 'not slow' tests/test_tlens.py tests/test_tracr.py tests/test_ray.py

# Mutation testing (tests/mutation/README.md): hand-made engine mutations and a seeded sample of
# mutmut's mutants of engine/ and lang/, each run against the fast engine tests; writes mutation-results.json.
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'mutmut>=3.8'
	OMP_NUM_THREADS=1 $(BIN)/python tests/mutation/run.py --sample 100 --seed 0

# The benchmark suite (about 15 minutes on 2 cores): prints a table, writes benchmarks/results/.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# auto-circuit's edge patching on the same subgraph as pathpatch, in its own environment
# (auto-circuit needs transformer_lens<4 and is not a pathpatch dependency).
bench-autocircuit:
	[ -x .venv-ac/bin/python ] || $(PY) -m venv .venv-ac
	.venv-ac/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		torch==2.13.0 auto-circuit 'transformer_lens<4' attrs
	.venv-ac/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	.venv-ac/bin/python benchmarks/autocircuit_subgraph.py

# pathpatch's ACDC, EAP and EAP-IG against auto-circuit's own, same model, edges, inputs and metric
# (about 10 minutes on one thread; --small: under a minute), in the same environment (.venv-ac).
bench-discovery-autocircuit:
	[ -x .venv-ac/bin/python ] || $(PY) -m venv .venv-ac
	.venv-ac/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		torch==2.13.0 auto-circuit 'transformer_lens<4' attrs
	.venv-ac/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	OMP_NUM_THREADS=1 .venv-ac/bin/python benchmarks/autocircuit_discovery.py

clean:
	rm -rf $(VENV) .venv-ac results benchmarks/results .pytest_cache .hypothesis mutation-results.json
