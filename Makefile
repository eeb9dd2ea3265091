# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint schemas bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/quotaboard demo

# Two pytest workers, one test file each at a time (--dist loadfile keeps a module's shared
# service in one worker): most e2e tests wait on processes, so two of them fill two cores.
# Every test takes free ports and its own temp dir, so workers never meet.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

schemas: $(STAMP)
	$(BIN)/python -m schemas.publish
	$(BIN)/python -m services.project.notices

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rebuild.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/wall.py

clean:
	rm -rf $(VENV) var .pytest_cache
