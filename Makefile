# Household digital-readiness survey pipeline.
# `make all` builds everything for $(SURVEY); `make help` lists the targets.
#
# Every stage is a real file target under build/$(NAME)/ that depends on its
# stage script, the shared modules it imports (read from its import
# statements by `pipeline.config --make-deps`), the survey config and its
# inputs, so Make re-runs only what changed.  Stages write atomically (temp
# file + rename) and the stage's manifest last.  The venv is an order-only
# prerequisite: refreshing it after a pyproject.toml change does not re-run
# the stages (their code did not change); `make clean all` forces a rebuild.

SURVEY ?= surveys/qb2022
NAME   := $(notdir $(SURVEY))
BUILD  := build/$(NAME)
FIGS   := figures/$(NAME)

PYTHON_BOOT ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

CONFIG   := $(SURVEY)/survey.toml
ANALYSIS := $(sort $(wildcard analysis/*.py analysis/*/*.py))

INGEST    := $(BUILD)/ingest/manifest.json
CLEAN     := $(BUILD)/clean/manifest.json
WEIGHT    := $(BUILD)/weight/manifest.json
ESTIMATES := $(BUILD)/estimates.csv $(BUILD)/estimates.parquet $(BUILD)/estimates.xlsx \
             $(BUILD)/models.csv $(BUILD)/comparisons.csv

# What `make all` builds.  The figures-and-report stage adds its targets here,
# e.g. `ALL_TARGETS += $(FIGS)/report.html` with its rule below the estimate rule.
ALL_TARGETS := $(ESTIMATES)
ALL_TARGETS += $(FIGS)/manifest_estimates.json $(FIGS)/manifest_diagnostics.json $(FIGS)/report.html

# Independent stages run side by side on JOBS cores (make -j); not with `clean`,
# which must finish before anything is built (`make clean all`).
JOBS ?= 2
ifeq ($(filter clean,$(MAKECMDGOALS)),)
MAKEFLAGS += -j$(JOBS)
endif

.DELETE_ON_ERROR:
.PHONY: all test bench clean help new-survey

## all      : set up .venv if needed and run the whole pipeline on $(SURVEY)
all: $(ALL_TARGETS)

# The virtual environment is rebuilt when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Input file lists of each stage, read from survey.toml (validated on the way):
# INGEST_INPUTS, CLEAN_INPUTS, WEIGHT_INPUTS, GENERATOR, GENERATOR_ARGS; and the
# modules each stage imports: INGEST_MODULES, CLEAN_MODULES, ... (with $(ANALYSIS)
# where the stage uses the library).
# Not needed (and not built) for help/clean/test/bench/new-survey.
DEPS := $(BUILD)/inputs.mk
ifneq ($(filter-out help clean test bench new-survey,$(or $(MAKECMDGOALS),all)),)
include $(DEPS)
endif
$(DEPS): $(CONFIG) $(wildcard pipeline/*.py) | $(STAMP)
	@mkdir -p $(@D)
	$(PY) -m pipeline.config --make-deps $(SURVEY) > $@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; false; }

# Inputs that do not exist are left out of the prerequisites so that the stage
# itself reports them (one line naming the file) instead of Make.
EXISTING = $(wildcard $(1))

# Stage 0 (optional): a survey with `[raw] generator = "..."` makes its raw files.
ifneq ($(strip $(GENERATOR)),)
$(INGEST_INPUTS) &: $(GENERATOR) | $(STAMP)
	$(PY) $(GENERATOR) $(GENERATOR_ARGS)
endif

$(INGEST): $(INGEST_MODULES) $(CONFIG) $(if $(strip $(GENERATOR)),$(INGEST_INPUTS),$(call EXISTING,$(INGEST_INPUTS))) | $(STAMP)
	$(PY) -m pipeline.ingest --survey $(SURVEY) --build $(BUILD)

$(CLEAN): $(CLEAN_MODULES) $(CONFIG) $(call EXISTING,$(CLEAN_INPUTS)) $(INGEST) | $(STAMP)
	$(PY) -m pipeline.clean --survey $(SURVEY) --build $(BUILD)

$(WEIGHT): $(WEIGHT_MODULES) $(CONFIG) $(call EXISTING,$(WEIGHT_INPUTS)) $(CLEAN) | $(STAMP)
	$(PY) -m pipeline.weight --survey $(SURVEY) --build $(BUILD)

# estimate re-runs the weight stage's calibration (the control tables) for calibrated variances
$(ESTIMATES) &: $(ESTIMATE_MODULES) $(CONFIG) $(call EXISTING,$(WEIGHT_INPUTS)) $(WEIGHT) $(INGEST) | $(STAMP)
	$(PY) -m pipeline.estimate --survey $(SURVEY) --build $(BUILD)

# --- figures and report -----------------------------------------------------
# Figures (PNG + SVG) then the self-contained HTML report, under $(FIGS)/.
# The figures come in two parts, each renaming its manifest last: the
# diagnostics (weights, controls, data quality) need only the weight stage, so
# they are drawn while the estimate stage runs; the estimate charts follow it.
# An optional build/<survey>/validation/coverage.csv is read when present.
FIG_EST    := $(FIGS)/manifest_estimates.json
FIG_DIAG   := $(FIGS)/manifest_diagnostics.json
FIGURES    := $(FIG_EST) $(FIG_DIAG)
REPORT     := $(FIGS)/report.html
DIAG_INPUTS := $(WEIGHT) $(CLEAN) $(INGEST) $(call EXISTING,$(WEIGHT_INPUTS))
FIG_INPUTS := $(ESTIMATES) $(DIAG_INPUTS)

$(FIG_EST): $(FIGURES_MODULES) $(CONFIG) $(ESTIMATES) $(INGEST) | $(STAMP)
	$(PY) -m pipeline.figures --part estimates --survey $(SURVEY) --build $(BUILD) --out $(FIGS)

# one process: it shares the cores with the estimate stage
$(FIG_DIAG): $(FIGURES_MODULES) $(CONFIG) $(DIAG_INPUTS) | $(STAMP)
	$(PY) -m pipeline.figures --part diagnostics --jobs 1 --survey $(SURVEY) --build $(BUILD) --out $(FIGS)

# The coverage study's figure (written with coverage.csv by `make validate`) is a prerequisite
# when present; coverage.csv itself is not, as it has a rule: `make all` must not run the study.
$(REPORT): $(REPORT_MODULES) pipeline/templates/report.html.j2 $(CONFIG) $(FIG_INPUTS) $(FIGURES) $(wildcard $(BUILD)/validation/coverage.png) | $(STAMP)
	$(PY) -m pipeline.report --survey $(SURVEY) --build $(BUILD) --out $(FIGS)

# --- validate: coverage study on the demo's synthetic population (not part of `all`) ----
# `make validate [REPLICATES=100]` draws REPLICATES samples with the survey's generator
# ([raw] generator: build_population, draw_sample) and runs each through the pipeline's
# clean rules, weight and estimate stages.  The replicate count is kept in a stamp file
# so that changing it re-runs the study.
REPLICATES ?= 1000
VALIDATION := $(BUILD)/validation/coverage.csv
.PHONY: validate FORCE
FORCE:

$(BUILD)/validation/replicates.txt: FORCE
	@mkdir -p $(@D)
	@echo $(REPLICATES) | cmp -s - $@ || echo $(REPLICATES) > $@

$(VALIDATION): $(VALIDATE_MODULES) $(CONFIG) $(GENERATOR) $(call EXISTING,$(WEIGHT_INPUTS)) \
               $(INGEST) $(BUILD)/validation/replicates.txt | $(STAMP)
	$(PY) -m pipeline.validate --survey $(SURVEY) --build $(BUILD) --replicates $(REPLICATES)

## validate : coverage study of the CIs: REPLICATES samples (default 1000) of the demo's population
validate: $(VALIDATION)

## new-survey: write a starting $(SURVEY)/survey.toml from raw files' codebooks:
##             make new-survey SURVEY=surveys/<name> FROM="raw/household.sav raw/person.sav"
new-survey: | $(STAMP)
	$(if $(strip $(FROM)),,$(error FROM is empty: name the raw files, e.g. FROM="raw/household.sav raw/person.sav"))
	$(PY) -m pipeline.init "$(SURVEY)" --from $(foreach f,$(FROM),"$(f)")

## test     : set up .venv if needed and run the full test suite
test: $(STAMP)
	$(PY) -m pytest

## bench    : run the speed and memory benchmarks and print a table
bench: $(STAMP)
	$(PY) bench/run.py

## clean    : remove everything the pipeline built for $(SURVEY) (keeps .venv and raw files)
clean:
	rm -rf $(BUILD) $(FIGS)

## help     : list the targets
##
## variables: SURVEY=surveys/<name> (default surveys/qb2022); outputs go to
##            build/<name>/ (BUILD) and figures/<name>/ (FIGS)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
