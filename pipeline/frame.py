"""The sampling frame: linking households to their EA and the EA's selection probabilities.

Used where the weights are computed from the design (``[frame]``): the weight
stage's base weights, and the response rates of the figures and report.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import suggest
from .errors import PipelineError
from .formats import code_text as fmt


def link_frame(hh: pd.DataFrame, frame: pd.DataFrame, fcfg: dict, frame_path) -> pd.DataFrame:
    key = fcfg["key"]
    for col in [key, fcfg["prob"]] + [fcfg[k] for k in ("prob_within", "listed", "sampled") if k in fcfg]:
        if col not in frame.columns:
            raise PipelineError(frame_path, col, "column not found" + suggest(col, frame.columns))
    if frame[key].duplicated().any():
        raise PipelineError(frame_path, key, f"duplicate EA {fmt(frame[key][frame[key].duplicated()].iloc[0])}")
    extra = [c for c in frame.columns if c not in hh.columns or c == key]
    out = hh.merge(frame[extra], on=key, how="left", validate="many_to_one", indicator="_frame")
    unlinked = out["_frame"].eq("left_only").to_numpy()
    if unlinked.any():
        raise PipelineError(frame_path, key, f"EA {fmt(out.loc[unlinked, key].iloc[0])} of the sample is not in the frame")
    out = out.drop(columns="_frame")
    needed = [fcfg[k] for k in ("prob", "prob_within", "listed", "sampled") if k in fcfg]
    for col in needed:  # a blank in a column the weights need: name the EA, the frame and the column
        blank = out[col].isna().to_numpy()
        if blank.any():
            raise PipelineError(frame_path, col, f"missing value for EA {fmt(out.loc[blank, key].iloc[0])} "
                                f"({int(out.loc[blank, key].nunique())} sampled EA(s) in all)")
    return out

def base_probability(df: pd.DataFrame, fcfg: dict, frame_path) -> np.ndarray:
    """Probability of selection of each household: EA probability x within-EA probability."""
    for col in [fcfg["prob"]] + ([fcfg["prob_within"]] if "prob_within" in fcfg else []):
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        bad = ~((v > 0) & (v <= 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PipelineError(frame_path, col, f"probability {fmt(df[col].iloc[i])!r} of EA {fmt(df[fcfg['key']].iloc[i])} "
                                "is not in (0, 1]")
    p = df[fcfg["prob"]].to_numpy(float)
    if "prob_within" in fcfg:
        p = p * df[fcfg["prob_within"]].to_numpy(float)
    elif "listed" in fcfg:
        sampled = (df[fcfg["sampled"]] if "sampled" in fcfg else df.groupby(fcfg["key"])[fcfg["key"]].transform("size"))
        p = p * sampled.to_numpy(float) / df[fcfg["listed"]].to_numpy(float)
    bad = ~((p > 0) & (p <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PipelineError(frame_path, fcfg.get("listed", fcfg["prob"]), f"selection probability {p[i]:g} of a "
                            f"household in EA {fmt(df[fcfg['key']].iloc[i])} is not in (0, 1]")
    return p