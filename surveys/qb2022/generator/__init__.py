"""The generator of the demo survey ``qb2022`` (synthetic Quảng Bình, mid-2022), as a package.

Modules, in the order the data are made:

* :mod:`.geography`: districts, communes, EAs, the EA frame and its allocation;
* :mod:`.population`: households and persons with their true values;
* :mod:`.sample`: the two-stage stratified PPS sample with nonresponse;
* :mod:`.capi`: the questionnaire's variables and the defect-free CAPI tables;
* :mod:`.defects`: the CAPI defects injected into the raw files, logged;
* :mod:`.communes`: the commune frame (census 2019 shares, telecom data, distance);
* :mod:`.truth`: true population values (overall, by domain, by commune) and census control totals;
* :mod:`.files`: writing the raw files and the statistics office's files;
* :mod:`.measures`: the indicators and answer codes (shared definitions).

``surveys/qb2022/generate.py`` is the command line Make runs (``[raw]
generator``); it loads this package from its own folder and re-exports the
names below, so a survey folder copied elsewhere keeps working.

Contract with ``make validate`` (``pipeline/validate.py``)
---------------------------------------------------------
The coverage study imports ``generate.py`` by path and calls, with no other
knowledge of the demo:

``build_population(seed=DEFAULT_SEED) -> Population``
    Deterministic in ``seed``.  ``Population.households`` and ``.persons``
    hold every unit with its true values; ``.frame`` is the EA frame
    (the survey's ``frame.csv``); ``.persons["hh"]`` is the row of the
    person's household in ``.households``.

``draw_sample(pop, rng) -> Sample``
    One sample with the survey's design and nonresponse model; ``rng`` (a
    ``numpy.random.Generator``) is its only source of randomness.
    ``Sample.eas`` has the frame's key column (``ea_id``).

``raw_tables(sample, rng) -> (household, person)``
    The defect-free CAPI tables of a sample, with the raw files' columns and
    codes (what ``ingest`` reads from ``household.sav`` / ``person.sav``).

``Sample(eas=, households=, persons=, population=)``
    The validate stage builds a census "sample" (every household of
    ``pop.households`` with ``result = 1``, ``persons=pop.persons``) and
    passes it to ``raw_tables`` to evaluate the indicators' truth with the
    config's own expressions.

Everything is drawn from ``numpy.random.default_rng`` streams spawned from
the seed, never from global state: the same seed gives byte-identical files.
"""

from ._util import icc_anova, exact_count
from .capi import codebook_table, raw_tables
from .communes import COVARIATES, commune_frame
from .defects import DEFECT_RATES, inject_defects
from .files import generate, write_raw, write_survey_files
from .geography import DISTRICT_NAMES, DISTRICTS, N_EA_SAMPLE, N_HH_PER_EA, URBAN_LEVELS, build_frame
from .measures import HH_INDICATORS, HH_MEANS, P_INDICATORS
from .population import DEFAULT_SEED, Population, build_population
from .sample import Sample, draw_sample
from .truth import commune_truth, control_tables, truth_table

__all__ = [
    "COVARIATES", "DEFAULT_SEED", "DEFECT_RATES", "DISTRICTS", "DISTRICT_NAMES", "HH_INDICATORS", "HH_MEANS", "N_EA_SAMPLE",
    "N_HH_PER_EA", "P_INDICATORS", "URBAN_LEVELS", "Population", "Sample", "build_frame", "build_population",
    "codebook_table", "commune_frame", "commune_truth", "control_tables", "draw_sample", "exact_count", "generate", "icc_anova", "inject_defects",
    "raw_tables", "truth_table", "write_raw", "write_survey_files",
]
