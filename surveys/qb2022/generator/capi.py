"""CAPI export: the questionnaire's variables (labels, codes, user-missing values) and the defect-free raw tables."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from .geography import DISTRICTS
from .measures import NO_INTERNET_REASONS, SKILLS

FIELD_START = dt.date(2022, 7, 18)
SAV_TIMESTAMP = b"14 Jul 2200:00:00"  # fixed creation date/time in the .sav header

YESNO_VI = {1: "Có", 2: "Không", 8: "Không biết", 9: "Từ chối trả lời"}
COUNT_MISSING_VI = {98: "Không biết", 99: "Từ chối trả lời"}

HH_VARS = [
    # name, label_vi, label_en, value labels (vi) or None, missing codes
    ("hhid", "Mã hộ (mã địa bàn-số thứ tự hộ)", "Household ID (EA code-listing number)", None, None),
    ("ea_id", "Mã địa bàn điều tra", "Enumeration area code", None, None),
    ("district", "Huyện/thị xã/thành phố", "District", "district", None),
    ("commune", "Xã/phường/thị trấn", "Commune", "commune", None),
    ("urban", "Thành thị/nông thôn", "Urban/rural", {1: "Thành thị", 2: "Nông thôn"}, None),
    ("result", "Kết quả phỏng vấn", "Interview result",
     {1: "Hoàn thành", 2: "Từ chối", 3: "Không có nhà", 4: "Nhà trống"}, None),
    ("interviewer", "Mã điều tra viên", "Interviewer code", None, None),
    ("interview_date", "Ngày phỏng vấn", "Interview date", None, None),
    ("duration_min", "Thời gian phỏng vấn (phút)", "Interview duration (minutes)", None, None),
    ("hh_size", "Số nhân khẩu của hộ", "Household size (members)", None, None),
    ("q_mobile", "Hộ có điện thoại di động", "Any mobile phone in the household", YESNO_VI, [8, 9]),
    ("n_smartphones", "Số điện thoại thông minh của hộ", "Number of smartphones in the household",
     COUNT_MISSING_VI, [98, 99]),
    ("q_computer", "Hộ có máy vi tính", "Computer in the household", YESNO_VI, [8, 9]),
    ("q_internet_home", "Hộ có kết nối Internet tại nhà", "Internet access at home", YESNO_VI, [8, 9]),
    ("q_fiber", "Kết nối cáp quang", "Fiber-optic connection", YESNO_VI, [8, 9]),
    ("q_fixed_other", "Kết nối băng rộng cố định khác", "Other fixed broadband connection", YESNO_VI, [8, 9]),
    ("q_mobile_bb", "Kết nối băng rộng di động (3G/4G)", "Mobile broadband connection (3G/4G)", YESNO_VI, [8, 9]),
    ("internet_spend", "Chi tiêu Internet hằng tháng (nghìn đồng)", "Monthly internet spending (thousand VND)",
     None, [99998, 99999]),
    ("no_internet_reason", "Lý do chính không có Internet tại nhà", "Main reason for no internet at home",
     {**{c: vi for c, vi, _ in NO_INTERNET_REASONS}, 98: "Không biết", 99: "Từ chối trả lời"}, [98, 99]),
]
P_VARS = [
    ("hhid", "Mã hộ (mã địa bàn-số thứ tự hộ)", "Household ID (EA code-listing number)", None, None),
    ("line", "Số thứ tự thành viên", "Member line number", None, None),
    ("sex", "Giới tính", "Sex", {1: "Nam", 2: "Nữ"}, None),
    ("age", "Tuổi (năm tròn)", "Age (completed years)", None, None),
    ("relation", "Quan hệ với chủ hộ", "Relationship to head",
     {1: "Chủ hộ", 2: "Vợ/chồng", 3: "Con", 4: "Bố/mẹ", 5: "Cháu",
      6: "Quan hệ gia đình khác", 7: "Không có quan hệ gia đình"}, None),
    ("education", "Trình độ học vấn cao nhất", "Highest education level",
     {1: "Chưa đi học/chưa tốt nghiệp tiểu học", 2: "Tiểu học", 3: "Trung học cơ sở",
      4: "Trung học phổ thông", 5: "Trung cấp/cao đẳng", 6: "Đại học trở lên"}, None),
    ("p_smartphone", "Sở hữu điện thoại thông minh", "Owns a smartphone", YESNO_VI, [8, 9]),
    ("p_internet", "Sử dụng Internet trong 3 tháng qua", "Used the internet in the last 3 months", YESNO_VI, [8, 9]),
    ("p_egov", "Sử dụng dịch vụ công trực tuyến trong 12 tháng qua",
     "Used online public services in the last 12 months", YESNO_VI, [8, 9]),
    ("p_account", "Có tài khoản ngân hàng hoặc ví điện tử", "Has a bank or e-wallet payment account", YESNO_VI, [8, 9]),
    ("p_digipay", "Thanh toán điện tử trong 12 tháng qua", "Paid digitally in the last 12 months", YESNO_VI, [8, 9]),
    ("p_esign", "Có chữ ký số", "Has a digital signature", YESNO_VI, [8, 9]),
    *[
        (f"p_skill{j}", f"Kỹ năng: {vi} (3 tháng qua)", f"Skill: {en} (last 3 months)", YESNO_VI, [8, 9])
        for j, (vi, en, _) in enumerate(SKILLS, start=1)
    ],
]


def _yn(x):
    """0/1 -> 1 yes / 2 no (float, NaN kept)."""
    return np.where(np.isnan(x), np.nan, np.where(x == 1, 1.0, 2.0))


def _hhid(ea_id, listing_no):
    return pd.Series(ea_id).astype(str).str.cat(pd.Series(listing_no).map("{:03d}".format), sep="-").to_numpy()


def raw_tables(sample, rng):
    """The defect-free CAPI tables of a sample, as the interviews would export them.

    Parameters
    ----------
    sample : Sample
        A drawn sample (or a census of the population: every household with
        ``result == 1``).
    rng : numpy.random.Generator
        Stream for the interview metadata (interviewer, date, duration).

    Returns
    -------
    household, person : pandas.DataFrame
        One row per selected dwelling (columns of ``HH_VARS``) and one per
        member of a completed household (columns of ``P_VARS``); answers coded
        1 yes / 2 no, items not asked NaN.
    """
    hhs, eas = sample.households, sample.eas
    n = len(hhs)
    comp = hhs["result"].to_numpy() == 1
    f = lambda c: np.where(comp, hhs[c].to_numpy(float), np.nan)  # noqa: E731
    internet = f("hh_internet")
    asked = internet == 1

    # interview metadata: one interviewer and a visit window per EA
    ea_pos = pd.Index(eas["ea_id"]).get_indexer(hhs["ea_id"])
    dcode = eas["district_code"].to_numpy()
    interviewer_ea = dcode * 100 + rng.integers(1, 5, size=len(eas))
    day_ea = rng.integers(0, 42, size=len(eas))
    day = day_ea[ea_pos] + rng.integers(0, 3, size=n)
    dates = [FIELD_START + dt.timedelta(days=int(d)) for d in day]
    hs = hhs["hh_size"].to_numpy(float)
    dur = np.where(
        comp,
        np.round(rng.lognormal(np.log(18 + 5 * hs), 0.25)),
        rng.integers(1, 6, size=n),
    )

    hhdf = pd.DataFrame(
        {
            "hhid": _hhid(hhs["ea_id"].to_numpy(), hhs["listing_no"].to_numpy()),
            "ea_id": hhs["ea_id"].to_numpy(float),
            "district": hhs["district"].to_numpy(float),
            "commune": hhs["commune"].to_numpy(float),
            "urban": hhs["urban"].to_numpy(float),
            "result": hhs["result"].to_numpy(float),
            "interviewer": interviewer_ea[ea_pos].astype(float),
            "interview_date": dates,
            "duration_min": dur.astype(float),
            "hh_size": f("hh_size"),
            "q_mobile": _yn(f("hh_mobile")),
            "n_smartphones": f("n_smartphones"),
            "q_computer": _yn(f("hh_computer")),
            "q_internet_home": _yn(internet),
            "q_fiber": np.where(asked, _yn(f("hh_fiber")), np.nan),
            "q_fixed_other": np.where(asked, _yn(f("hh_fixed_other")), np.nan),
            "q_mobile_bb": np.where(asked, _yn(f("hh_mobile_bb")), np.nan),
            "internet_spend": np.where(asked, f("internet_spend"), np.nan),
            "no_internet_reason": np.where(internet == 0, f("no_internet_reason"), np.nan),
        }
    )
    P = sample.persons
    adult = P["age"].to_numpy() >= 15
    pdf = pd.DataFrame(
        {
            "hhid": hhdf["hhid"].to_numpy()[P["hh"].to_numpy()],
            "line": P["line"].to_numpy(float),
            "sex": P["sex"].to_numpy(float),
            "age": P["age"].to_numpy(float),
            "relation": P["relation"].to_numpy(float),
            "education": P["education"].to_numpy(float),
        }
    )
    for name, *_ in P_VARS[6:]:
        pdf[name] = np.where(adult, _yn(P[name].to_numpy(float)), np.nan)
    return hhdf, pdf


def _value_labels(spec, pop_labels):
    out = {}
    for name, _, _, vl, _ in spec:
        if vl is None:
            continue
        if isinstance(vl, str):
            vl = pop_labels[vl]
        out[name] = {float(k): v for k, v in vl.items()}
    return out


def write_sav(df, path, spec, pop_labels, file_label):
    """Write *df* as an SPSS file with labels, user-missing codes and a fixed header date (same bytes each run)."""
    fmt = {}
    for c in df.columns:
        if c == "hhid":
            continue
        if c == "interview_date":
            continue
        fmt[c] = "F8.0" if c in ("ea_id", "internet_spend") else "F3.0"
    if "ea_id" in fmt:
        fmt["ea_id"] = "F5.0"
    if "interviewer" in fmt:
        fmt["interviewer"] = "F4.0"
    missing = {name: list(m) for name, _, _, _, m in spec if m}
    missing = {k: ([{"lo": v[0], "hi": v[1]}] if k == "internet_spend" else v) for k, v in missing.items()}
    tmp = Path(str(path) + ".tmp")
    pyreadstat.write_sav(
        df,
        str(tmp),
        file_label=file_label,
        column_labels={name: vi for name, vi, _, _, _ in spec},
        variable_value_labels=_value_labels(spec, pop_labels),
        missing_ranges=missing,
        variable_format=fmt,
        variable_measure={name: ("scale" if name in ("age", "hh_size", "n_smartphones", "internet_spend", "duration_min") else "nominal")
                          for name, *_ in spec if name != "interview_date"},
    )
    data = bytearray(tmp.read_bytes())
    # fixed creation date/time so the same seed gives byte-identical files
    assert data[92:101].decode("ascii").count(" ") == 2
    data[92:109] = SAV_TIMESTAMP
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)


def value_label_sets(pop):
    """Value labels that depend on the population: district and commune names by code."""
    c = pop.communes
    return {
        "district": {d[0]: d[1] for d in DISTRICTS},
        "commune": dict(zip(c["commune_code"].tolist(), c["commune"].tolist())),
    }


YESNO_EN = {1: "Yes", 2: "No", 8: "Don't know", 9: "Refused"}
VALUES_EN = {
    "urban": {1: "Urban", 2: "Rural"},
    "result": {1: "Completed", 2: "Refused", 3: "Not at home", 4: "Dwelling vacant"},
    "n_smartphones": {98: "Don't know", 99: "Refused"},
    "no_internet_reason": {**{c: en for c, _, en in NO_INTERNET_REASONS}, 98: "Don't know", 99: "Refused"},
    "sex": {1: "Male", 2: "Female"},
    "relation": {1: "Head", 2: "Spouse", 3: "Child", 4: "Parent", 5: "Grandchild",
                 6: "Other relative", 7: "Not related"},
    "education": {1: "None / primary not completed", 2: "Primary", 3: "Lower secondary",
                  4: "Upper secondary", 5: "Vocational / college", 6: "University or higher"},
}


def codebook_table():
    """English/Vietnamese codebook of both raw files as a table."""
    rows = []
    for file, spec in (("household", HH_VARS), ("person", P_VARS)):
        for name, vi, en, vl, miss in spec:
            if vl == "district":
                vals = "; ".join(f"{d[0]}={d[1]}" for d in DISTRICTS)
            elif vl == "commune":
                vals = "commune_code (district code x 100 + number); names in frame.csv"
            elif vl:
                vals = "; ".join(f"{k}={v}" for k, v in vl.items())
            else:
                vals = ""
            if miss and name == "internet_spend":
                ms = "99998-99999"
            else:
                ms = ",".join(str(m) for m in miss) if miss else ""
            if vl is YESNO_VI:
                ven = YESNO_EN
            else:
                ven = VALUES_EN.get(name)
            if ven:
                vals_en = "; ".join(f"{k}={v}" for k, v in ven.items())
            elif vl == "district":
                vals_en = vals
            elif vl == "commune":
                vals_en = "commune_code (district code x 100 + number); names in frame.csv"
            else:
                vals_en = ""
            rows.append((file, name, vi, en, vals, vals_en, ms))
    return pd.DataFrame(
        rows, columns=["file", "variable", "label_vi", "label_en", "values_vi", "values_en", "user_missing"]
    )
