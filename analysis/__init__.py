"""Design-based estimation for complex household surveys.

The library mirrors R's ``survey`` package: declare a design once
(:class:`SurveyDesign` for Taylor linearisation, :class:`ReplicateDesign`
for replicate weights), then call ``mean``, ``total``, ``proportion``,
``ratio`` and ``quantile`` with ``by=`` domains.  It holds no file I/O and
no knowledge of any pipeline or survey.
"""
from .design import SurveyDesign, LONELY_PSU_RULES
from .pseudo_strata import pair_psus
from .results import Estimate, ConfidenceInterval
from .intervals import MEAN_METHODS, PROPORTION_METHODS
from .validation import (
    SurveyError, DesignError, EstimationError, LonelyPSUError,
    SurveyWarning, LonelyPSUWarning, EmptyDomainWarning,
)

try:  # the replicate module lands with the design core
    from .replicate import ReplicateDesign, REPLICATE_TYPES
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "SurveyDesign", "ReplicateDesign", "Estimate", "ConfidenceInterval", "pair_psus",
    "MEAN_METHODS", "PROPORTION_METHODS", "LONELY_PSU_RULES", "REPLICATE_TYPES",
    "SurveyError", "DesignError", "EstimationError", "LonelyPSUError",
    "SurveyWarning", "LonelyPSUWarning", "EmptyDomainWarning",
]
__version__ = "0.1.0"
