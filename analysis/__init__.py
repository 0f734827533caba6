"""Design-based estimation for complex household surveys.

The library mirrors R's ``survey`` package: declare a design once
(:class:`SurveyDesign` for Taylor linearisation, :class:`ReplicateDesign`
for replicate weights), then call ``mean``, ``total``, ``proportion``,
``ratio`` and ``quantile`` with ``by=`` domains.  It holds no file I/O and
no knowledge of any pipeline or survey.
"""
from importlib import import_module

# Names are imported on first use (PEP 562), so that ``import analysis.sampling``
# (a survey generator) or ``analysis.validation`` does not load the estimators and scipy.
_EXPORTS = {
    "SurveyDesign": "design", "LONELY_PSU_RULES": "design", "pair_psus": "pseudo_strata",
    "Estimate": "results", "ConfidenceInterval": "results",
    "MEAN_METHODS": "intervals", "PROPORTION_METHODS": "intervals",
    "ReplicateDesign": "replicate", "REPLICATE_TYPES": "replicate",
    "ModelResult": "models", "WaldTest": "models", "ChisqTest": "association", "TTest": "association",
    **dict.fromkeys(["SurveyError", "DesignError", "EstimationError", "LonelyPSUError",
                     "SurveyWarning", "LonelyPSUWarning", "EmptyDomainWarning",
                     "SeparationWarning", "ModelConvergenceWarning"], "validation"),
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__version__ = "0.1.0"
