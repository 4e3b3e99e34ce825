# The two commands of the README, and the set-up they share. Every step is idempotent.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR := /usr/share/datasets/fashion-mnist

.PHONY: quickstart test setup data postgres postgres-binaries slurm browser lint

quickstart: setup  ## set up, then run (or continue) the quickstart study
	$(BIN)/optuna-run experiments/quickstart.yaml

test: setup browser postgres-binaries lint  ## set up, lint, then run the whole test suite
	$(BIN)/pytest

setup: $(VENV)/.installed data postgres slurm

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Fashion-MNIST comes from Debian's dataset-fashion-mnist (no download at run time).
# FASHION_MNIST_DIR, if set, points at your own copy and skips this.
data:
	@if [ -n "$$FASHION_MNIST_DIR" ] || [ -f $(DATA_DIR)/t10k-labels-idx1-ubyte.gz ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "Fashion-MNIST missing: install dataset-fashion-mnist as root, or set FASHION_MNIST_DIR" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist

# The Slurm tests start their own small cluster (slurmctld, two slurmd on loopback, munged)
# from Debian's packages; nothing is started here, and the host's own Slurm set-up is not used.
SLURM_PACKAGES := slurmctld slurmd slurm-client munge
slurm:
	@if command -v sbatch >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "Slurm missing: install $(SLURM_PACKAGES) as root" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SLURM_PACKAGES)

# The shop page is tested in Debian's headless Chromium, driven by Playwright for Python
# (executable_path=/usr/bin/chromium): never a browser downloaded at run time.
BROWSER_PACKAGES := chromium chromium-driver
browser:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "Chromium missing: install $(BROWSER_PACKAGES) as root" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BROWSER_PACKAGES)

# The tests of several workers use the PostgreSQL server at 127.0.0.1:5432 (trust auth);
# start the local cluster if it is installed and down.
postgres:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432 \
	  && command -v pg_ctlcluster >/dev/null; then \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; fi

# The TLS tests start a PostgreSQL cluster of their own (tests/tls_postgres.py) with Debian's
# initdb and pg_ctl, as the postgres user; the machine's own cluster is left as it is.
postgres-binaries:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "PostgreSQL's server binaries missing: install postgresql as root" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql

lint:
	$(BIN)/ruff check fashion_models tests bench
	$(BIN)/ruff format --check fashion_models tests bench
	$(BIN)/mypy fashion_models
