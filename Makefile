# The two commands: `make serve` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMAGE := .build/masterdata.binpb

AGAINST ?= HEAD

.PHONY: serve test floor fuzz proto docs lint check-proto check-docs buf-lint breaking clean

# The server (its dependencies bring the client, from ./clients), then the client again,
# editable, so that the code in clients/ is what runs.
$(STAMP): pyproject.toml clients/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps -e ./clients
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/masterdata serve $(ARGS)

proto: $(STAMP)
	$(BIN)/python scripts/gen_protos.py --image $(IMAGE)
	$(BIN)/python scripts/gen_api_docs.py

# docs/api.md, the API reference, from the protos' comments and the error reasons.
docs: $(STAMP)
	$(BIN)/python scripts/gen_api_docs.py

check-docs: $(STAMP)
	$(BIN)/python scripts/gen_api_docs.py --check

check-proto: $(STAMP)
	$(BIN)/python scripts/gen_protos.py --check

buf-lint: $(STAMP)
	$(BIN)/python scripts/gen_protos.py --image-only $(IMAGE)
	$(BIN)/buf lint $(IMAGE) --path masterdata/v1

# Breaking-change check of protos/ against a git revision (default: the last commit).
breaking: $(STAMP) buf-lint
	rm -rf .build/against && mkdir -p .build/against
	git archive $(AGAINST) protos | tar -x -C .build/against
	$(BIN)/python scripts/gen_protos.py --image-only .build/against.binpb --proto-root .build/against/protos
	$(BIN)/buf breaking $(IMAGE) --against .build/against.binpb

lint: $(STAMP) buf-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP) check-proto check-docs lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The client installed alone at the floors it declares (clients/pyproject.toml), in a venv
# of its own, against a server from $(VENV): tests/floor. About half a minute; CI runs it.
floor: $(STAMP)
	$(BIN)/python tests/floor/run.py

# The fuzz net (tests/test_fuzz_contract.py) with many fresh examples per RPC: minutes.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	MASTERDATA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) MASTERDATA_FUZZ_RANDOM=1 \
		$(BIN)/python -m pytest tests/test_fuzz_contract.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .build .pytest_cache
