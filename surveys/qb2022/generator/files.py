"""Writing the demo's files: the raw CAPI files (with defects), the statistics office's files, and everything at once."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._util import sha256, write_csv
from .communes import commune_frame
from .capi import HH_VARS, P_VARS, codebook_table, raw_tables, value_label_sets, write_sav
from .defects import inject_defects
from .population import DEFAULT_SEED, build_population
from .sample import draw_sample
from .truth import commune_truth, control_tables, truth_table


def write_raw(sample, out_dir, rng):
    """Write the CAPI-style raw files with injected defects.

    Parameters
    ----------
    sample : Sample
    out_dir : str or pathlib.Path
        Directory (created if needed).
    rng : numpy.random.Generator
        Stream for interview metadata and defects.

    Returns
    -------
    list of pathlib.Path
        ``household.sav``, ``person.sav``, ``defects.csv``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pop = sample.population
    hhdf, pdf = raw_tables(sample, rng)
    hhdf, pdf, defects = inject_defects(hhdf, pdf, rng, pop.frame["ea_id"].to_numpy())
    labels = value_label_sets(pop)
    paths = [out / "household.sav", out / "person.sav", out / "defects.csv"]
    write_sav(hhdf, paths[0], HH_VARS, labels, "Khao sat chuyen doi so ho gia dinh Quang Binh 2022 (du lieu mo phong) - ho")
    write_sav(pdf, paths[1], P_VARS, labels, "Khao sat chuyen doi so ho gia dinh Quang Binh 2022 (du lieu mo phong) - thanh vien")
    write_csv(defects, paths[2])
    return paths


def write_survey_files(pop, sample, out_dir):
    """Write the statistics-office files: frame, selected EAs, controls, codebook, commune frame (``communes.csv``)."""
    out = Path(out_dir)
    frame = pop.frame
    write_csv(frame, out / "frame.csv")
    se = sample.eas[["ea_id", "stratum", "district_code", "urban", "households", "n_ea_stratum",
                     "pi_ea", "n_hh_selected"]].copy()
    se["pi_hh"] = se["pi_ea"] * se["n_hh_selected"] / se["households"]
    write_csv(se, out / "sample_eas.csv")
    t1, t2 = control_tables(pop)
    write_csv(t1, out / "controls" / "households_district_urban.csv")
    write_csv(t2, out / "controls" / "persons_sex_age.csv")
    write_csv(codebook_table(), out / "codebook.csv")
    write_csv(commune_frame(pop), out / "communes.csv")


def generate(out_dir, seed=DEFAULT_SEED, survey_files=None):
    """Build the population, draw the sample, write everything.

    The seed's ``SeedSequence`` spawns three streams: the population, the
    sample and the raw files (interview metadata and defects).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Raw-file directory.
    seed : int
    survey_files : str or pathlib.Path, optional
        Where to write frame, selected EAs, control tables, codebook and commune frame.

    Returns
    -------
    dict
        ``population``, ``sample`` and the written ``paths``.
    """
    ss = np.random.SeedSequence(seed)
    _, s_sample, s_raw = ss.spawn(3)
    pop = build_population(seed)
    sample = draw_sample(pop, np.random.default_rng(s_sample))
    out = Path(out_dir)
    paths = write_raw(sample, out, np.random.default_rng(s_raw))
    truth = truth_table(pop)
    write_csv(truth, out / "truth.csv")
    paths.append(out / "truth.csv")
    # every commune's truth: beside truth.csv, not in checksums.sha256 (which lists the files
    # the single-module generator wrote, byte-identical since)
    write_csv(commune_truth(pop), out / "truth_communes.csv")
    lines = "".join(f"{sha256(p)}  {p.name}\n" for p in paths)
    tmp = out / "checksums.sha256.tmp"
    tmp.write_text(lines, encoding="utf-8")
    os.replace(tmp, out / "checksums.sha256")  # written last: the Make target
    if survey_files is not None:
        write_survey_files(pop, sample, survey_files)
    return {"population": pop, "sample": sample, "paths": paths}
