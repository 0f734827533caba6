"""Small-area estimation: the Fay-Herriot area-level model and its companions.

* :func:`fay_herriot` (arrays) and :func:`fay_herriot_frame` (a frame of
  areas) fit the model by REML, ML or the Fay-Herriot moment method and give
  EBLUPs with their MSE, exactly as R ``sae`` 1.3 (``eblupFH``/``mseFH``),
  or by Li and Lahiri's adjusted REML (``"AMRL"``, as R ``emdi``),
  synthetic estimates for areas without a sample, and an arcsine-square-root
  option for proportions;
* :func:`gvf_proportion` smooths noisy direct variances of proportions;
* :func:`ratio_benchmark` makes area estimates add up to a higher-level
  direct estimate.
"""
from .benchmark import BenchmarkResult, ratio_benchmark
from .fay_herriot import METHODS, FayHerriotResult, SyntheticPrediction, fay_herriot
from .frame import AreaEstimates, design_matrix, fay_herriot_frame
from .gvf import GVF_MODELS, GVFResult, gvf_proportion
from .transform import arcsin_backtransform, arcsin_transform

__all__ = [
    "fay_herriot", "fay_herriot_frame", "FayHerriotResult", "SyntheticPrediction", "AreaEstimates",
    "design_matrix", "METHODS", "gvf_proportion", "GVFResult", "GVF_MODELS", "ratio_benchmark",
    "BenchmarkResult", "arcsin_transform", "arcsin_backtransform",
]
