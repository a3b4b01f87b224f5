# Two commands on a fresh Debian or Ubuntu machine:
#   make run    serve the chat on http://127.0.0.1:8000/chat/ (SQLite, in-memory layer)
#   make test   install what is missing and run every suite with real Redis, PostgreSQL, Daphne and Chromium
#   make example  the tutorial's chat (examples/tutorial-chat) and its tests, on pytest-channels-live; then the plugin's own tests

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DOCS_VENV := .venv-docs
EXAMPLE_VENV := .venv-example
EXAMPLE := examples/tutorial-chat
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

# Debian packages, each named with the file it installs.
REDIS := redis-server:/usr/bin/redis-server
# The failover test's Sentinels; Debian ships Sentinel as a package of its own.
REDIS_SENTINEL := redis-sentinel:/usr/bin/redis-sentinel
APACHE := apache2:/usr/sbin/apache2
NGINX := nginx:/usr/sbin/nginx
# The server's own path names its version (/usr/lib/postgresql/<version>/bin); postgresql-common,
# which every server version depends on, ships pg_ctlcluster at a path that stays put.
POSTGRESQL := postgresql:/usr/bin/pg_ctlcluster
TEST_PACKAGES := $(REDIS) $(REDIS_SENTINEL) $(APACHE) $(NGINX) $(POSTGRESQL) chromium:/usr/bin/chromium systemd:/usr/bin/systemd-analyze \
	chromium-driver:/usr/bin/chromedriver npm:/usr/bin/npm

.PHONY: bench bench-abuse bench-notify docs example example-tests plugin-tests run test test-prerequisites setup system-packages lint format check unit integration functional clean demo-apache demo-nginx

# Install Debian packages (the arguments) with apt-get when root, or say the exact command and stop.
define apt_install
if [ "$$(id -u)" = 0 ]; then \
	echo "Installing system packages:$(1)"; \
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1); \
else \
	echo "Missing system packages. Install them with:" >&2; \
	echo "    sudo apt-get install -y$(1)" >&2; \
	exit 1; \
fi
endef

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed; $(PYTHON) is $$($(PYTHON) --version 2>&1)." >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(call apt_install, python3-venv); }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt pytest-channels-live/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

setup: $(VENV)/.installed

# The documentation tools, apart from the server's environment (requirements-docs.txt says why).
$(DOCS_VENV)/.installed: requirements-docs.txt | $(BIN)/python
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DOCS_VENV)/bin/python -m pip install --quiet -r requirements-docs.txt
	@touch $@

# axe-core, which the browser tests inject into pages; the app itself has no JavaScript build.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Install those of the given package:file pairs whose file is missing.
define ensure_packages
@missing=""; \
for entry in $(1); do \
	[ -x "$${entry#*:}" ] || missing="$$missing $${entry%%:*}"; \
done; \
if [ -n "$$missing" ]; then $(call apt_install,$$missing); fi
endef

system-packages:
	$(call ensure_packages,$(TEST_PACKAGES))

run: setup
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/daphne -b $(HOST) -p $(PORT) mysite.asgi:application

# The split stack in the foreground (Apache or nginx, gunicorn, two Daphne processes, Redis)
# until Ctrl+C. PORT defaults to 8080 and 8081; APACHE_FORM=proxypass for the 2.4.47+ form.
APACHE_FORM ?= rewrite
demo_port = $(if $(filter command line environment,$(origin PORT)),$(PORT),$(1))

demo-apache: setup
	$(call ensure_packages,$(REDIS) $(APACHE))
	$(BIN)/python deploy/demo.py apache --port $(call demo_port,8080) --apache-form $(APACHE_FORM)

demo-nginx: setup
	$(call ensure_packages,$(REDIS) $(NGINX))
	$(BIN)/python deploy/demo.py nginx --port $(call demo_port,8081)

# Load benchmarks, this project beside the tutorial's consumer and a raw relay: a table, in a few minutes.
bench: setup
	$(call ensure_packages,$(REDIS))
	$(BIN)/python -m bench.run

# What one hostile client costs everyone else on a Daphne process with the default limits: a table, in about 2 minutes.
bench-abuse: setup
	$(call ensure_packages,$(REDIS))
	$(BIN)/python -m bench.abuse

# From notify() to a person's pages on two Daphne processes, and a Group per person against one
# addressed Group for all: tables, in about 2 minutes.
bench-notify: setup
	$(call ensure_packages,$(REDIS) $(POSTGRESQL))
	$(BIN)/python -m bench.notify

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: setup
	DJANGO_DEBUG=1 $(BIN)/python manage.py check
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

# Then the example's tests; PYTEST_ARGS name the project's tests, not the example's.
# What the suites need, side by side: the virtualenvs and axe-core install while lint, check and
# the docs build run once theirs is ready.
test-prerequisites: setup node_modules/.installed lint check docs $(EXAMPLE_VENV)/.installed

test: system-packages
	@$(MAKE) --no-print-directory -j4 test-prerequisites
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory example PYTEST_ARGS=

# The example installs the plugin as its users would: into a fresh virtualenv of its own, made
# again whenever the example's requirements or the plugin's code change. The plugin's own tests
# also need psycopg: it goes into a folder of its own there, on their PYTHONPATH only.
PLUGIN_TEST_PACKAGES := $(EXAMPLE_VENV)/plugin-tests
# It is built from a copy of the plugin's files: pip builds in the folder it installs from, and the
# project's virtualenv, installed at the same time, builds in pytest-channels-live/.
PLUGIN_COPY := $(EXAMPLE_VENV)/pytest-channels-live
$(EXAMPLE_VENV)/.installed: $(EXAMPLE)/requirements.txt pytest-channels-live/requirements-test.txt pytest-channels-live/pyproject.toml $(shell find pytest-channels-live/src -name '*.py' 2>/dev/null) | $(BIN)/python
	$(PYTHON) -m venv --clear $(EXAMPLE_VENV)
	mkdir -p $(PLUGIN_COPY)
	tar -C pytest-channels-live --exclude='*.egg-info' --exclude=build -cf - pyproject.toml README.md src | tar -C $(PLUGIN_COPY) -xf -
	$(EXAMPLE_VENV)/bin/python -m pip install --quiet ./$(PLUGIN_COPY) -r $(EXAMPLE)/requirements.txt
	$(EXAMPLE_VENV)/bin/python -m pip install --quiet --target $(PLUGIN_TEST_PACKAGES) -r pytest-channels-live/requirements-test.txt
	@touch $@

# The example's tests and the plugin's own (which run pytest on small projects of their own), side
# by side: each mostly waits on its servers and browsers. Each one's output is shown whole when it ends.
example: $(EXAMPLE_VENV)/.installed
	$(call ensure_packages,$(REDIS) $(POSTGRESQL) chromium:/usr/bin/chromium chromium-driver:/usr/bin/chromedriver)
	@$(MAKE) --no-print-directory -j2 --output-sync=target example-tests plugin-tests

example-tests:
	cd $(EXAMPLE) && ../../$(EXAMPLE_VENV)/bin/pytest $(PYTEST_ARGS)

plugin-tests:
	cd pytest-channels-live && PYTHONPATH=$(abspath $(PLUGIN_TEST_PACKAGES)) ../$(EXAMPLE_VENV)/bin/pytest

# The documentation site, into site/. Strict: a warning (a broken link, a missing excerpt) fails it.
docs: $(DOCS_VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

unit integration functional: system-packages setup node_modules/.installed
	$(BIN)/pytest tests/$@ $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DOCS_VENV) $(EXAMPLE_VENV) node_modules staticfiles test-artifacts .pytest_cache .ruff_cache .hypothesis
