"""Generator of the bundled demo survey ``qb2022`` (synthetic Quảng Bình, mid-2022): the command line.

Make runs it (``[raw] generator = "generate.py"`` in ``survey.toml``)::

    python surveys/qb2022/generate.py --out surveys/qb2022/raw [--seed 20220714]
        [--survey-files surveys/qb2022]

``--out`` receives ``household.sav``, ``person.sav``, ``defects.csv``,
``truth.csv`` and ``checksums.sha256`` (written last: the Make target).
``--survey-files DIR`` also writes what a statistics office supplies
(``frame.csv``, ``sample_eas.csv``, ``codebook.csv``, ``controls/*.csv``); the
copies committed in ``surveys/qb2022`` are exactly what the default seed
produces.

The code lives in the package ``generator/`` next to this file (geography,
population, sample, CAPI export, defects, truth; see its docstring for the
contract with ``make validate``).  This module loads that package from its own
folder and re-exports its public names, so that ``pipeline.validate`` (which
imports this file by path) finds ``build_population``, ``draw_sample``,
``raw_tables`` and ``Sample`` here::

    pop = build_population(seed)            # households + persons with true values
    sample = draw_sample(pop, rng)          # stratified 2-stage PPS sample + nonresponse
    household, person = raw_tables(sample, rng)   # defect-free CAPI tables
    write_raw(sample, out_dir, rng)         # CAPI-style .sav files with logged defects
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parents[1]
if str(_ROOT) not in sys.path:  # run as a script from a fresh clone: `analysis` is importable
    sys.path.insert(0, str(_ROOT))


def _load_package():
    """Import ``generator/`` of this folder under a name unique to its path (copies of the folder do not collide)."""
    pkg = _HERE / "generator"
    name = f"_qb2022_generator_{hashlib.sha1(str(pkg).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses and relative imports look the package up while it runs
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


_gen = _load_package()
__all__ = [*_gen.__all__, "main"]
globals().update({n: getattr(_gen, n) for n in _gen.__all__})


def main(argv=None):
    """Command line: write the raw files (and optionally the survey files) for one seed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for the raw files")
    ap.add_argument("--seed", type=int, default=_gen.DEFAULT_SEED)
    ap.add_argument("--survey-files", default=None,
                    help="also write frame.csv, sample_eas.csv, codebook.csv, controls/ here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = _gen.generate(args.out, args.seed, args.survey_files)
    hh = res["sample"].households
    print(
        f"qb2022: {len(res['population'].households):,} households, "
        f"{len(res['population'].persons):,} persons; sample {len(res['sample'].eas)} EAs, "
        f"{len(hh)} households ({(hh['result'] == 1).sum()} completed); "
        f"{time.perf_counter() - t0:.1f} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
