# ssh_alert: build the single-file zipapp dist/ssh_alert.pyz and run its tests (GNU make).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYZ    := dist/ssh_alert.pyz
# Everything under app/ goes into the pyz (a missing app/ just lists nothing).
APP_FILES := $(shell find app -type f ! -name '*.py[co]' ! -path '*/__pycache__/*' 2>/dev/null)

# "build" is also a directory here: without .PHONY make would think it up to date.
.PHONY: all venv build verify typecheck test test-future prereq demo bench mutation clean distclean
.DEFAULT_GOAL := all

all: build

venv: $(VENV)/.stamp

$(VENV)/.stamp: requirements.lock requirements-build.lock requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --no-deps --require-hashes --only-binary=:all: -r requirements-build.lock
	$(VENV)/bin/pip install -q --no-deps --require-hashes --only-binary=:all: -r requirements.lock
	$(VENV)/bin/pip install -q -r requirements-dev.lock
	touch $@

build: $(PYZ)

# The venv stamp is a real prerequisite: a different shiv or pip may build a different pyz. The docs pages
# and README.md are packaged too (ssh_alert.pyz help TOPIC).
$(PYZ): $(APP_FILES) $(wildcard docs/*.md) README.md $(wildcard build/*.py) shiv.toml requirements.lock requirements-build.lock $(VENV)/.stamp
	$(PY) build/build.py

# Rebuild from this tree and compare with a published pyz's sha256: make verify SHA256=<64 hex digits>
verify: venv
	$(PY) build/build.py --verify "$(SHA256)"

# mypy --strict over app/ (pyproject.toml's [tool.mypy]); make test runs it first.
typecheck: venv
	$(VENV)/bin/mypy

test: venv typecheck build
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory test-future

# The date-sensitive tests once more with the clock 400 days ahead (libfaketime; the monotonic clock stays
# real), so no test data can age out: a test that hard-codes a date fails here today, not next year.
# support/faketime/sitecustomize.py keeps time.sleep working under libfaketime in every Python the tests start.
FUTURE_TESTS := tests/rules tests/logins tests/store tests/watch tests/check tests/channels tests/settings tests/system tests/install/test_legacy.py \
	tests/end_to_end/test_upgrade.py
test-future: venv build
	@if ! command -v faketime >/dev/null; then \
	    echo "test-future: faketime is missing: sudo make prereq"; [ "$$CI" != true ]; \
	else \
	    FAKETIME_DONT_FAKE_MONOTONIC=1 PYTHONPATH=$(CURDIR)/tests/support/faketime \
	        faketime -f +400d $(PY) -m pytest -q -p no:cacheprovider $(FUTURE_TESTS); \
	fi

# The Debian packages the tests use (as root): msmtp, Dovecot, SpamAssassin, sshd, ...; Postfix unpacked into
# .cache/postfix. It never replaces the machine's MTA. `make test` names what is missing.
prereq:
	bash .ci/prereq

demo: venv build
	$(PY) tests/demo.py

bench: venv build
	env -u PYTHONDONTWRITEBYTECODE $(PY) tests/bench.py

# The core's mutation score, module by module (mutmut 2.5.1 in throwaway clones under .cache/; about an hour).
mutation: venv
	bash tests/mutation.sh

clean:
	rm -rf dist .pytest_cache .mypy_cache
	find app build tests -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true

distclean: clean
	rm -rf $(VENV) .hypothesis .cache
