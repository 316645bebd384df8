# The polyglot entry point. Every target installs what it needs and is safe to re-run.
#   make demo      generate sample data, ingest it, run the dbt_runner handler on DuckDB (STEP_SECONDS=n: in steps)
#   make test      install everything and run every test suite
#   make synth     synthesize the dev and prod stacks into cdktf.out/
#   make layer     build the arm64 dbt Lambda layer (build/dbt-layer.zip); layer-requirements re-exports its pins
#   make package   build the function package (build/function.zip)
#   make bench     print the benchmark figures (synth, handler, coldstart, history, ship, steps)
#   make bootstrap create the Terraform state bucket (ARGS="--region ... --env dev")
#   make rehearse-walkthrough  the README's "Deploy to your AWS account" commands, as written, on moto
#   make rehearse  deploy rehearsal: bootstrap, init, plan, apply, re-plan, use and destroy both stacks on moto
#   make invoke    run dbt in a deployed env's runner and print the summary (ENV=dev|prod, CMD="build --select ...")
#   make build-changed  after a deploy: build what the deployed project changed since latest/ (ENV=dev|prod)
#   make test-athena-sql  the dbt project's Athena SQL run on Trino 476 (Athena's engine), compared with DuckDB
#   make runs      list recent dbt runs from their artifacts (local, or ENV=dev|prod's bucket; N=20)
#   make docs      build the private one-page dbt docs locally (ENV=dev|prod: fetch that env's page)
#   make ship-project  ship dbt/ to ENV=<env> as a bundle (validated, then current); BUNDLE=<sha256> rolls back
#   make ci-build  build the working tree's changed models as pull request PR=<n> would (schema main_pr_<n>)
#   make ci-teardown  drop pull request PR=<n>'s local schema and delete its folder (.local/ci/pr_<n>/)
#   make faults    run the fault-injection suite and print its table (fault | outcome | records lost)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export CHECKPOINT_DISABLE := 1

# The pinned uv (installed on first use) with the CPython 3.12 of the Lambda runtime.
UV := scripts/uv
SCALE ?= 1
# make demo STEP_SECONDS=n: the build through the dbt-build state machine, steps of n seconds.
STEP_SECONDS ?=
N ?= 20
ENV ?=

.PHONY: help deps deps-node deps-python demo faults test test-athena-sql test-ts test-python test-packaging test-workflows test-security rehearse rehearse-walkthrough synth layer layer-requirements package bench bootstrap invoke build-changed runs docs ship-project ci-build ci-teardown clean

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

# --- installs (stamped on their lockfiles) ------------------------------------

deps: deps-node deps-python

deps-node: node_modules/.installed
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps-python: .venv/.installed
.venv/.installed: uv.lock pyproject.toml
	$(UV) sync --frozen --all-groups
	touch $@

# --- the product --------------------------------------------------------------

demo: deps-python
	$(UV) run --frozen python -m scripts.demo.demo --scale $(SCALE) $(if $(STEP_SECONDS),--step-seconds $(STEP_SECONDS))

# Re-synthesizes only when an input changed, so suites running side by side never rewrite
# cdktf.out/ under each other.
SYNTH_INPUTS := main.ts cdktf.json tsconfig.json $(wildcard envs/*.ts stacks/*.ts constructs/*.ts) \
	dbt/models/sources.yml handler/raw_zone/contract.json $(wildcard .bootstrap/*.json)
synth: cdktf.out/.synthesized
cdktf.out/.synthesized: node_modules/.installed $(SYNTH_INPUTS)
	npx cdktf synth
	touch $@

layer: deps-python
	$(UV) run --frozen python -m scripts.packaging.build_layer

layer-requirements: deps-python
	$(UV) run --frozen python -m scripts.packaging.build_layer --export-requirements

package: deps-python
	$(UV) run --frozen python -m scripts.packaging.build_package

bootstrap: deps-node
	npx tsx scripts/bootstrap/bootstrap.ts $(ARGS)

bench: deps-node deps-python
	$(UV) run --frozen python -m bench

invoke: deps-python
	@test -n "$(ENV)" || { echo 'make invoke needs ENV=dev or ENV=prod (and optionally CMD="build --select ...")' >&2; exit 2; }
	$(UV) run --frozen python -m scripts.operations.invoke --env $(ENV) $(if $(CMD),--command "$(CMD)")

build-changed: deps-python
	@test -n "$(ENV)" || { echo 'make build-changed needs ENV=dev or ENV=prod' >&2; exit 2; }
	$(UV) run --frozen python -m scripts.operations.build_changed --env $(ENV) $(ARGS)

runs: deps-python
	$(UV) run --frozen python -m scripts.operations.runs -n $(N) $(if $(ENV),--env $(ENV))

faults: deps-python
	$(UV) run --frozen python -m scripts.testing.faults

docs: deps-python
	$(UV) run --frozen python -m scripts.operations.dbt_docs $(if $(ENV),--env $(ENV))

# The dbt project to an env without a deploy (scripts/operations/ship_project.py): a bundle in its
# artifacts bucket, parsed by its runner, then made current. BUNDLE=<sha256> re-points (rollback).
ship-project: deps-python
	@test -n "$(ENV)" || { echo "ship-project: set ENV=dev|prod" >&2; exit 2; }
	$(UV) run --frozen python -m scripts.operations.ship_project --env $(ENV) $(if $(BUNDLE),--bundle $(BUNDLE))

# A pull request's slim build on this machine (scripts/operations/pr_build.py): the runner's CI event.
ci-build: deps-python
	$(UV) run --frozen python -m scripts.operations.pr_build build --pr $(PR)

ci-teardown: deps-python
	$(UV) run --frozen python -m scripts.operations.pr_build teardown --pr $(PR)

# --- tests ----------------------------------------------------------------------

# Two lanes side by side on the build machines' two cores (scripts/checks/suites.py): each lane's
# suites run in order; the stacks are synthesized once, before both. The walkthrough rewrites
# cdktf.out/ (it runs `npx cdktf deploy` as the README says), so it runs before the suites that
# read the stacks later: the rehearsal after it in its lane, the Trino check late in the other.
test: deps synth
	$(UV) run --frozen python -m scripts.checks.suites \
		--lane "test-python test-ts test-workflows" \
		--lane "layer package test-security test-packaging rehearse-walkthrough rehearse test-athena-sql"

# Constructs, stacks, config validation, the real synth, the bootstrap script against moto_server.
test-ts: deps-node deps-python
	npx tsc --noEmit
	npx vitest run

# The Lambda packages, the dbt project on DuckDB, the operations tools, the rehearsal's harness,
# make test's lane runner; npx cdktf deploy after bootstrap (and without it) on the emulator.
test-python: deps-node deps-python
	$(UV) run --frozen pytest handler/tests dbt/project_tests scripts/operations/tests scripts/rehearse/tests \
		scripts/checks/tests/test_suites.py

# The layer and function package: arm64, complete, within Lambda's limits, referenced by the stacks.
test-packaging: layer package
	$(UV) run --frozen pytest scripts/packaging/tests

# The Athena build's SQL on Trino 476 (Athena engine v3's engine): raw tables from the synthesized
# Glue resources, every model, data test and analysis, staging and marts equal to the DuckDB build.
# Downloads Trino (~450 MB, checksum-verified) once into ~/.cache/dbt-lambda; needs a JDK >= 24.
test-athena-sql: deps synth
	$(UV) run --frozen python -m scripts.checks.athena_sql
	$(UV) run --frozen pytest -q -p no:cacheprovider scripts/checks/tests/test_athena_sql.py

# actionlint on .github/workflows.
test-workflows:
	scripts/checks/lint-workflows

# checkov on both synthesized stacks.
test-security: synth
	scripts/checks/check-security

# Both stacks applied on moto for real: needs Terraform and the provider mirror (see scripts/rehearse/gaps.py).
rehearse: deps layer package synth
	$(UV) run --frozen python -m scripts.rehearse.rehearse

# The README's walkthrough block run as written on moto (equivalents listed in scripts/rehearse/gaps.py).
rehearse-walkthrough: deps layer package
	$(UV) run --frozen python -m scripts.rehearse.walkthrough

clean:
	rm -rf cdktf.out build .local dbt/target dbt/logs
