"""Survey weighting: base weights, nonresponse adjustment, post-stratification,
raking, calibration and trimming.

Every step mirrors R ``survey`` where R has the method (``postStratify``,
``rake``, ``calibrate``) and returns a new design object (the input is never
modified) carrying a :class:`WeightingReport`.

>>> from analysis.weighting import poststratify, rake, calibrate, trim
>>> pop_stype = pd.DataFrame({"stype": ["E", "H", "M"], "count": [4421, 755, 1018]})
>>> d2 = poststratify(d, pop_stype)                      # doctest: +SKIP
>>> d3 = rake(d, [pop_stype, pop_schwide], tol=1e-10)    # doctest: +SKIP
>>> d4 = calibrate(d, margins=[pop_stype], totals={"api99": 3914069.0})  # doctest: +SKIP
>>> d5 = trim(d4, upper=3.5, relative_to="median")       # doctest: +SKIP
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
