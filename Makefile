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

# Paths may hold spaces (SURVEY="/data/Household survey/qb2022").  Make splits words
# on spaces, so each path exists in two spellings: Make-escaped ("a\ b", M suffix) for
# targets and prerequisites, and shell-quoted ('a b', Q suffix) for recipes.  Word
# functions (notdir, abspath, ...) see spaces encoded as "|", a character no accepted
# path holds (pipeline.config refuses every Make or shell metacharacter in a path).
space := $(subst ,, )
enc    = $(subst $(space),|,$(1))
dec    = $(subst |,$(space),$(1))
mesc   = $(subst $(space),\$(space),$(1))
shq    = '$(subst ','\'',$(1))'
# the survey folder's name after resolving it (as the stages do): never "." or ".."
NAME   := $(call dec,$(notdir $(or $(realpath $(call enc,$(SURVEY))),$(abspath $(call enc,$(SURVEY))))))
BUILD  := build/$(NAME)
FIGS   := figures/$(NAME)
SURVEY_Q := $(call shq,$(SURVEY))
BUILD_Q  := $(call shq,$(BUILD))
FIGS_Q   := $(call shq,$(FIGS))
BUILD_M  := $(call mesc,$(BUILD))
FIGS_M   := $(call mesc,$(FIGS))

PYTHON_BOOT ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

CONFIG   := $(call mesc,$(SURVEY))/survey.toml
ANALYSIS := $(sort $(wildcard analysis/*.py analysis/*/*.py))

INGEST    := $(BUILD_M)/ingest/manifest.json
CLEAN     := $(BUILD_M)/clean/manifest.json
WEIGHT    := $(BUILD_M)/weight/manifest.json
ESTIMATES := $(BUILD_M)/estimates.csv $(BUILD_M)/estimates.parquet $(BUILD_M)/estimates.xlsx \
             $(BUILD_M)/models.csv $(BUILD_M)/comparisons.csv

# What `make all` builds.  The figures-and-report stage adds its targets here,
# e.g. `ALL_TARGETS += $(FIGS)/report.html` with its rule below the estimate rule.
ALL_TARGETS := $(ESTIMATES)
ALL_TARGETS += $(FIGS_M)/manifest_estimates.json $(FIGS_M)/manifest_diagnostics.json $(FIGS_M)/report.html

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
# INGEST_INPUTS, CLEAN_INPUTS, WEIGHT_INPUTS, GENERATOR, as Make-escaped paths
# (pipeline.config refuses any other Make metacharacter and any path outside the
# survey folder; it writes the file atomically); and the modules each stage
# imports, read from its import statements: INGEST_MODULES, CLEAN_MODULES, ...
# (with $(ANALYSIS) where the stage uses the library).  Not needed (and not
# built) for help/clean/test/bench/new-survey.
DEPS := $(BUILD_M)/inputs.mk
ifneq ($(filter-out help clean test bench new-survey,$(or $(MAKECMDGOALS),all)),)
include $(DEPS)
endif
$(DEPS): $(CONFIG) $(wildcard pipeline/*.py) | $(STAMP)
	$(PY) -m pipeline.config --make-deps $(SURVEY_Q) --out $(call shq,$(BUILD)/inputs.mk)

# Inputs that do not exist are left out of the prerequisites so that the stage
# itself reports them (one line naming the file) instead of Make.  $(1) is a list
# of Make-escaped paths; so is the result.
EXISTING = $(foreach f,$(subst \$(space),|,$(1)),$(if $(wildcard $(subst |,\$(space),$(f))),$(subst |,\$(space),$(f))))

# Stage 0 (optional): a survey with `[raw] generator = "..."` makes its raw files;
# pipeline.config runs it with its [raw] args, without a shell.  GENERATOR_FILES
# also lists the Python modules in sub-folders of the generator's folder (the
# demo's generator/ package), so that changing one re-makes the raw files.
ifneq ($(strip $(GENERATOR)),)
$(INGEST_INPUTS) &: $(GENERATOR_FILES) | $(STAMP)
	$(PY) -m pipeline.config --generate $(SURVEY_Q)
endif

$(INGEST): $(INGEST_MODULES) $(CONFIG) $(if $(strip $(GENERATOR)),$(INGEST_INPUTS),$(call EXISTING,$(INGEST_INPUTS))) | $(STAMP)
	$(PY) -m pipeline.ingest --survey $(SURVEY_Q) --build $(BUILD_Q)

$(CLEAN): $(CLEAN_MODULES) $(CONFIG) $(call EXISTING,$(CLEAN_INPUTS)) $(INGEST) | $(STAMP)
	$(PY) -m pipeline.clean --survey $(SURVEY_Q) --build $(BUILD_Q)

$(WEIGHT): $(WEIGHT_MODULES) $(CONFIG) $(call EXISTING,$(WEIGHT_INPUTS)) $(CLEAN) | $(STAMP)
	$(PY) -m pipeline.weight --survey $(SURVEY_Q) --build $(BUILD_Q)

# estimate re-runs the weight stage's calibration (the control tables) for calibrated variances
$(ESTIMATES) &: $(ESTIMATE_MODULES) $(CONFIG) $(call EXISTING,$(WEIGHT_INPUTS) $(ESTIMATE_INPUTS)) $(WEIGHT) $(INGEST) | $(STAMP)
	$(PY) -m pipeline.estimate --survey $(SURVEY_Q) --build $(BUILD_Q)

# --- figures and report -----------------------------------------------------
# Figures (PNG + SVG) then the self-contained HTML report, under $(FIGS)/.
# The figures come in two parts, each renaming its manifest last: the
# diagnostics (weights, controls, data quality) need only the weight stage, so
# they are drawn while the estimate stage runs; the estimate charts follow it.
# An optional build/<survey>/validation/coverage.csv is read when present.
FIG_EST    := $(FIGS_M)/manifest_estimates.json
FIG_DIAG   := $(FIGS_M)/manifest_diagnostics.json
FIGURES    := $(FIG_EST) $(FIG_DIAG)
REPORT     := $(FIGS_M)/report.html
DIAG_INPUTS := $(WEIGHT) $(CLEAN) $(INGEST) $(call EXISTING,$(WEIGHT_INPUTS))
FIG_INPUTS := $(ESTIMATES) $(DIAG_INPUTS)

$(FIG_EST): $(FIGURES_MODULES) $(CONFIG) $(ESTIMATES) $(INGEST) | $(STAMP)
	$(PY) -m pipeline.figures --part estimates --survey $(SURVEY_Q) --build $(BUILD_Q) --out $(FIGS_Q)

# one process: it shares the cores with the estimate stage
$(FIG_DIAG): $(FIGURES_MODULES) $(CONFIG) $(DIAG_INPUTS) | $(STAMP)
	$(PY) -m pipeline.figures --part diagnostics --jobs 1 --survey $(SURVEY_Q) --build $(BUILD_Q) --out $(FIGS_Q)

# The coverage study's figure (written with coverage.csv by `make validate`) is a prerequisite
# when present; coverage.csv itself is not, as it has a rule: `make all` must not run the study.
$(REPORT): $(REPORT_MODULES) pipeline/templates/report.html.j2 $(CONFIG) $(FIG_INPUTS) $(FIGURES) $(call EXISTING,$(BUILD_M)/validation/coverage.png) | $(STAMP)
	$(PY) -m pipeline.report --survey $(SURVEY_Q) --build $(BUILD_Q) --out $(FIGS_Q)

# Stages run side by side (make -j) as one process each (the figure stage forks its own
# workers): one BLAS thread per process, so that they do not oversubscribe the cores.  Small
# products then no longer wait for a BLAS thread the other stage keeps busy (up to 0.1 s each).
STAGE_TARGETS := $(INGEST) $(CLEAN) $(WEIGHT) $(ESTIMATES) $(FIGURES) $(REPORT)
$(STAGE_TARGETS): export OPENBLAS_NUM_THREADS := 1
$(STAGE_TARGETS): export OMP_NUM_THREADS := 1
$(STAGE_TARGETS): export MKL_NUM_THREADS := 1

# --- validate: coverage study on the demo's synthetic population (not part of `all`) ----
# `make validate [REPLICATES=100]` draws REPLICATES samples with the survey's generator
# ([raw] generator: build_population, draw_sample) and runs each through the pipeline's
# clean rules, weight and estimate stages.  The replicate count is kept in a stamp file
# so that changing it re-runs the study.
REPLICATES ?= 1000
VALIDATION := $(BUILD_M)/validation/coverage.csv
.PHONY: validate FORCE
FORCE:

$(BUILD_M)/validation/replicates.txt: FORCE
	@mkdir -p $(call shq,$(BUILD)/validation)
	@echo $(call shq,$(REPLICATES)) | cmp -s - $(call shq,$(BUILD)/validation/replicates.txt) || \
	  echo $(call shq,$(REPLICATES)) > $(call shq,$(BUILD)/validation/replicates.txt)

$(VALIDATION): $(VALIDATE_MODULES) $(CONFIG) $(GENERATOR_FILES) $(call EXISTING,$(WEIGHT_INPUTS)) \
               $(call EXISTING,$(ESTIMATE_INPUTS)) $(INGEST) $(BUILD_M)/validation/replicates.txt | $(STAMP)
	$(PY) -m pipeline.validate --survey $(SURVEY_Q) --build $(BUILD_Q) --replicates $(call shq,$(REPLICATES))

## validate : coverage study of the CIs: REPLICATES samples (default 1000) of the demo's population
validate: $(VALIDATION)

## new-survey: write a starting $(SURVEY)/survey.toml from raw files' codebooks:
##             make new-survey SURVEY=surveys/<name> FROM="raw/household.sav raw/person.sav"
new-survey: | $(STAMP)
	$(if $(strip $(FROM)),,$(error FROM is empty: name the raw files, e.g. FROM="raw/household.sav raw/person.sav"))
	$(PY) -m pipeline.init $(SURVEY_Q) --from $(foreach f,$(FROM),$(call shq,$(f)))

## test     : set up .venv if needed and run the full test suite
# on $(JOBS) worker processes; a test file's tests stay on one worker (its module fixtures are built once)
test: $(STAMP)
	$(PY) -m pytest -n $(call shq,$(JOBS)) --dist loadfile

## bench    : run the speed and memory benchmarks and print a table
bench: $(STAMP)
	$(PY) bench/run.py

## clean    : remove everything the pipeline built for $(SURVEY) (keeps .venv and raw files)
# pipeline.config checks what each folder resolves to first: inside this repository only
# build/<name> and figures/<name> are ever removed (never analysis/ or the repository).
clean:
	$(PYTHON_BOOT) -m pipeline.config --clean $(SURVEY_Q) --build $(BUILD_Q) --figs $(FIGS_Q)

## help     : list the targets
##
## variables: SURVEY=surveys/<name> (default surveys/qb2022); outputs go to
##            build/<name>/ (BUILD) and figures/<name>/ (FIGS)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
