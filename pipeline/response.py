"""Response status of the sampled units: who was eligible and who responded (``[weighting]``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import suggest
from .errors import PipelineError
from .expr import ExpressionError, evaluate_bool


def response_status(df: pd.DataFrame, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(respondent, eligible) masks of ``[weighting] respondent``/``eligible`` (everyone where not given)."""
    wcfg = cfg.get("weighting") or {}
    for c in wcfg.get("nonresponse_classes", []):
        if c not in df.columns:
            raise PipelineError(cfg["_path"], "weighting.nonresponse_classes", f"column {c!r} not found"
                                + suggest(c, df.columns))
    try:
        resp = (evaluate_bool(wcfg["respondent"], df).fillna(False).to_numpy(bool) if "respondent" in wcfg
                else np.ones(len(df), bool))
        elig = (evaluate_bool(wcfg["eligible"], df).fillna(False).to_numpy(bool) if "eligible" in wcfg
                else np.ones(len(df), bool))
    except ExpressionError as e:
        raise PipelineError(cfg["_path"], "weighting", f"{e.problem} in {e.expression!r}") from None
    return resp, elig
