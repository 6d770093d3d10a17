# Library IdP — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint format install translations db demo demo-reset bench bench-peer portal elibrary clean browser xmlsec

# -qq: only errors (no build back-end warnings); the install takes a minute or two.
$(STAMP): pyproject.toml
	@echo "Installing into $(VENV) (quietly; a minute or two the first time)…"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -qq --upgrade pip
	@$(BIN)/pip install -qq -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) translations

## Compiled only when a catalogue changed (so that two test runs never write one at once).
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard idp/translations/*/LC_MESSAGES/messages.po))

translations: $(CATALOGUES)

idp/translations/%.mo: idp/translations/%.po $(STAMP)
	@$(BIN)/pybabel -q compile -i $< -o $@

db: install
	@$(BIN)/idp init

## make run: install, create database/secret/keys, load demo data into a new database, serve.
run: db xmlsec
	@$(BIN)/idp demo --if-empty
	@$(BIN)/idp run --host $(HOST) --port $(PORT)

## make demo-reset: the demo patrons get their demo passwords back (0300000000 temporary
## again), and the example clients are registered again. Other patrons are not touched.
demo-reset: db
	@$(BIN)/idp demo

## make portal: the example relying party (clients/example_portal) on 127.0.0.1:5001, next to
## `make run`'s IdP, with the demo secret that `idp demo` registered for example-portal.
PORTAL_PORT ?= 5001
PORTAL_ISSUER ?= http://$(HOST):$(PORT)
portal: install
	cd clients/example_portal && \
	PORTAL_ISSUER="$(PORTAL_ISSUER)" \
	PORTAL_CLIENT_ID="$${PORTAL_CLIENT_ID:-example-portal}" \
	PORTAL_CLIENT_SECRET="$${PORTAL_CLIENT_SECRET:-$$(../../$(BIN)/python -c 'from idp.cli.demo import DEMO_SECRETS; print(DEMO_SECRETS["PORTAL_CLIENT_SECRET"])')}" \
	PORTAL_SECRET_KEY="$${PORTAL_SECRET_KEY:-example-portal-demo-cookie-key-not-for-production}" \
	../../$(BIN)/flask --app portal run --host 127.0.0.1 --port $(PORTAL_PORT)

## make elibrary: the same example site playing the e-library (client d-library: third party,
## consent once, temporary passwords refused) on 127.0.0.1:5002, where the demo's d-library
## registration sends patrons back — so "back to the service" answers.
ELIBRARY_PORT ?= 5002
elibrary: install
	cd clients/example_portal && \
	PORTAL_ISSUER="$(PORTAL_ISSUER)" \
	PORTAL_CLIENT_ID=d-library \
	PORTAL_CLIENT_SECRET="$${DLIBRARY_CLIENT_SECRET:-$$(../../$(BIN)/python -c 'from idp.cli.demo import DEMO_SECRETS; print(DEMO_SECRETS["DLIBRARY_CLIENT_SECRET"])')}" \
	PORTAL_TOKEN_AUTH_METHOD=client_secret_post \
	PORTAL_SCOPE="openid library_card" \
	PORTAL_BASE_URL="http://127.0.0.1:$(ELIBRARY_PORT)" \
	PORTAL_COOKIE_NAME=elibrary_session \
	PORTAL_SITE_NAME=電子図書館 \
	PORTAL_SECRET_KEY="$${PORTAL_SECRET_KEY:-example-elibrary-demo-cookie-key-not-for-production}" \
	../../$(BIN)/flask --app portal run --host 127.0.0.1 --port $(ELIBRARY_PORT)

## make test: every test (embedded SQLite by default; IDP_TEST_DATABASE_URL/IDP_TEST_REDIS_URL for PostgreSQL/Redis).
test: install browser xmlsec
	$(BIN)/python -m pytest

## The browser tests use Debian's Chromium (never a downloaded one) and a Japanese font.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi ipagothic; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium and fonts-ipafont-gothic:"; \
	    echo "  sudo apt-get install chromium fonts-ipafont-gothic"; exit 1; \
	  fi; \
	fi

## The SAML IdP signs and verifies with Debian's xmlsec1 (through pysaml2).
xmlsec:
	@if ! command -v xmlsec1 >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq xmlsec1 >/dev/null; \
	  else \
	    echo "The SAML IdP needs Debian's xmlsec1:"; \
	    echo "  sudo apt-get install xmlsec1"; exit 1; \
	  fi; \
	fi

## make bench [BACKEND=postgres] [SERVER=granian] [DURATION=10] [CONCURRENCY=16] [PATRONS=10000]:
## fresh instance, production server, wrk load; table + bench/results/<backend>.json.
BACKEND ?= sqlite
SERVER ?= gunicorn
DURATION ?= 10
CONCURRENCY ?= 16
PATRONS ?= 10000
BENCH_ARGS ?=
bench: install
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
	  else echo "The benchmark needs wrk: sudo apt-get install wrk"; exit 1; fi; }
	@if [ "$(SERVER)" = granian ]; then $(BIN)/pip install --quiet -e ".[granian]"; fi
	$(BIN)/python -m bench.run --backend $(BACKEND) --server $(SERVER) --duration $(DURATION) \
	  --concurrency $(CONCURRENCY) --patrons $(PATRONS) $(BENCH_ARGS)

## make bench-peer [BACKEND=postgres] [PEER_ARGS="--duration 3 --rounds 3"]: side by side with
## node oidc-provider (../shared/peer-bench, needs node >= 20.18.1 and npm); ratios in bench/results/.
PEER_ARGS ?=
bench-peer: install
	$(BIN)/python -m bench.peer --backend $(BACKEND) $(BENCH_ARGS) -- $(PEER_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
