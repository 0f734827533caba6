"""Survey weighting: base weights, nonresponse adjustment, post-stratification,
raking, calibration and trimming.

Every step mirrors R ``survey`` 4.1-1 where R has the method
(``postStratify``, ``rake``, ``calibrate``) and returns a *new* design (the
input is never modified) carrying a :class:`WeightingReport` in
``weighting_report``.  Taylor designs get a variance step so that standard
errors use the calibration residuals exactly as R's ``svyrecvar``;
replicate designs have every replicate column adjusted to the same
controls, as R does for ``svrepdesign``.

Control totals are tidy tables: margin column(s) plus a ``count`` (or R's
``Freq``) column; a table with only ``count`` is the population size.

Design-level functions::

    poststratify(design, table, *, partial=False)
    rake(design, [tables], *, tol=1e-10, max_iter=None, convergence="relative", epsilon=1)
    calibrate(design, margins=None, totals=None, *, method="linear", bounds=None,
              tol=1e-10, max_iter=50)
    trim(design, upper=None, *, lower=None, relative_to="median", recalibrate=True)

Array-level functions (before a design exists; return ``(weights, report)``
except ``base_weights`` and ``propensity_classes``)::

    base_weights(df, stage_probs)                      -> ndarray
    adjust_nonresponse(df, weights, respondent, classes=None, *, eligible=None, collapse=None)
    propensity_classes(df, respondent, covariates, *, n_classes=5, weights=None)
    poststratify_weights / rake_weights / calibrate_weights / trim_weights

>>> from analysis.weighting import poststratify, rake, calibrate, trim
>>> pop_stype = pd.DataFrame({"stype": ["E", "H", "M"], "count": [4421, 755, 1018]})
>>> d2 = poststratify(d, pop_stype)                      # doctest: +SKIP
>>> d3 = rake(d, [pop_stype, pop_schwide], tol=1e-10)    # doctest: +SKIP
>>> d4 = calibrate(d, margins=[pop_stype], totals={"api99": 3914069.0})  # doctest: +SKIP
>>> d5 = trim(d4, upper=3.5, relative_to="median")       # doctest: +SKIP

References
----------
Deville, J.-C. and Sarndal, C.-E. (1992). Calibration estimators in survey
sampling. *JASA* 87, 376-382.
Kish, L. (1965). *Survey Sampling*. Wiley.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
Valliant, R., Dever, J. A. and Kreuter, F. (2018). *Practical Tools for
Designing and Weighting Survey Samples*, 2nd ed. Springer.
"""

from .calibration import (CalibrationSpec, calibrate, calibrate_weights, poststratify,
                          poststratify_weights, rake, rake_weights, trim, trim_weights)
from .controls import Margin, parse_control_table
from .nonresponse import adjust_nonresponse, base_weights, propensity_classes
from .errors import (CalibrationError, ControlTotalsError, ConvergenceError, NonresponseError,
                     WeightingError, WeightingWarning)
from .report import WeightingReport, weight_summary
from .steps import GregStep, PostStratStep, RakeStep

__all__ = [
    "base_weights", "adjust_nonresponse", "propensity_classes",
    "poststratify", "rake", "calibrate", "trim",
    "poststratify_weights", "rake_weights", "calibrate_weights", "trim_weights",
    "WeightingReport", "weight_summary", "parse_control_table", "Margin", "CalibrationSpec",
    "PostStratStep", "RakeStep", "GregStep",
    "WeightingError", "ControlTotalsError", "CalibrationError", "ConvergenceError",
    "NonresponseError", "WeightingWarning",
]
