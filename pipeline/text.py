"""Interface text of the figures and the report, and survey labels in any language.

The built-in text (titles, headings, footnotes, rule names) exists in
Vietnamese and English (:data:`LANGUAGES`); a survey whose ``[report]
language`` is another code gets the English text, with one
:class:`InterfaceLanguageWarning` per process (its numbers are still
formatted for its language: :mod:`pipeline.formats`).  Labels in
``survey.toml`` are a plain string or a table of language codes;
:func:`label_text` picks the one to show.
"""
from __future__ import annotations

import warnings

LANGUAGES = ("vi", "en")
FALLBACK = "en"


class InterfaceLanguageWarning(UserWarning):
    """The report language has no built-in interface text; English is used."""


_warned: set = set()


def interface_language(lang: str) -> str:
    """The language of the built-in text for a report in *lang* (English when there is none)."""
    if lang in LANGUAGES:
        return lang
    if lang not in _warned:
        _warned.add(lang)
        warnings.warn(f"report.language {lang!r}: no built-in interface text in this language; figure titles, "
                      f"headings and footnotes are in English (labels from survey.toml are used as given)",
                      InterfaceLanguageWarning, stacklevel=2)
    return FALLBACK


def table(texts: dict, lang: str) -> dict:
    """The entries of one text table (e.g. :data:`REPORT`) for *lang*."""
    return texts[interface_language(lang)]


def t(lang: str, key: str, **kw) -> str:
    """A figure text, formatted with *kw*."""
    s = table(FIGURE, lang)[key]
    return s.format(**kw) if kw else s


def label_text(label, lang: str, default: str = "") -> str:
    """A survey.toml label in *lang*: the string itself, the table's entry for *lang*, else English, else the first."""
    if label is None:
        return default
    if isinstance(label, str):
        return label
    for k in (lang, FALLBACK):
        if label.get(k):
            return label[k]
    return next(iter(label.values()), default)


class _Keep(dict):
    """Format-map that leaves the placeholders it does not know, e.g. ``{label}``, for a later format."""

    def __missing__(self, key):
        return "{" + key + "}"


AREA_NOUNS = {"vi": {"area": "địa bàn", "group": "nhóm"}, "en": {"area": "area", "group": "group"}}


def _plural(word: str, lang: str) -> str:
    if interface_language(lang) == "vi":  # Vietnamese nouns do not inflect ("các xã")
        return word
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "o", "u", ""):
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s")


def area_words(sae: dict | None, lang: str) -> dict:
    """The nouns of the small-area texts: ``{area}``, ``{areas}``, ``{group}``, ``{groups}`` and their
    capitalised forms (``{Area}`` ...), from ``[sae] area_noun``, ``group_noun`` (and their
    ``_plural``) in *lang*, else the built-in "area" and "group"."""
    sae, base = sae or {}, table(AREA_NOUNS, lang)
    out = {}
    for key in ("area", "group"):
        one = label_text(sae.get(f"{key}_noun"), lang, base[key])
        many = label_text(sae.get(f"{key}_noun_plural"), lang) or _plural(one, lang)
        out |= {key: one, key + "s": many, key.title(): one[:1].upper() + one[1:],
                key.title() + "s": many[:1].upper() + many[1:]}
    return out


def with_words(texts: dict, words: dict) -> dict:
    """*texts* with the placeholders of *words* filled in (e.g. :func:`area_words`); others stay."""
    keep = _Keep(words)
    return {k: v.format_map(keep) if isinstance(v, str) and "{" in v else v for k, v in texts.items()}


def label_languages(labels) -> list[str]:
    """Language codes used by a collection of labels, in order of first appearance ('' for plain strings)."""
    out: dict = {}
    for lab in labels:
        for k in ([""] if isinstance(lab, str) else list(lab)):
            out.setdefault(k, None)
    return list(out)


FIGURE = {
    "vi": {
        "headline": "Các chỉ tiêu chính ({overall}), với khoảng tin cậy {level} và mục tiêu",
        "headline_plain": "Các chỉ tiêu chính ({overall}), với khoảng tin cậy {level}",
        "household": "Hộ gia đình", "person": "Nhân khẩu", "persons": "Nhân khẩu",
        "estimate": "Ước lượng", "ci": "Khoảng tin cậy {level}", "target": "Mục tiêu",
        "target_short": "Mục tiêu {year}: {value}",
        "percent_of": "Tỷ lệ (%)", "value": "Giá trị",
        "suppressed": "ẩn (độ tin cậy thấp)", "flagged": "cần xem xét (xem ghi chú)",
        "note_suppressed": "Ước lượng ẩn: không đạt quy tắc độ tin cậy (NCHS): {rules}.",
        "note_flagged": "Điểm rỗng: ước lượng cần xem xét thống kê ({rules}).",
        "source": "Nguồn: {source}.",
        "ci_method": "Khoảng tin cậy {level}: {methods}.",
        "ci_none": "Hình này không có khoảng tin cậy.",
        "weights": "Phân phối quyền số: quyền số thiết kế và quyền số cuối cùng",
        "weights_plain": "Phân phối quyền số",
        "weights_x": "Quyền số (số hộ mà một hộ mẫu đại diện)", "weights_y": "Số hộ mẫu",
        "w_base": "Quyền số thiết kế", "w_nonresponse": "Sau điều chỉnh không trả lời", "w_final": "Quyền số cuối cùng",
        "weights_stats": "{name}: trung vị {median}; lớn nhất/nhỏ nhất {ratio}; deff Kish {deff}",
        "controls": "Tổng đạt được so với tổng kiểm soát ({unit})",
        "controls_x": "Chênh lệch so với tổng kiểm soát (%)",
        "rules": "Số bản ghi theo quy tắc làm sạch", "rules_x": "Số bản ghi",
        "quarantine_action": "Cách ly (loại khỏi phân tích)", "fix_action": "Sửa giá trị (giữ bản ghi)",
        "quarantine": "Bản ghi bị cách ly theo lý do", "quarantine_x": "Số bản ghi bị cách ly",
        "response": "Tỷ lệ trả lời theo tầng (không quyền số)", "response_x": "Tỷ lệ trả lời (%)",
        "overall": "Chung", "n_fmt": "{resp}/{elig}",
        "no_data": "Không có dữ liệu", "w_delivered": "Quyền số được cung cấp",
        "odds ratio": "Tỷ số chênh (thang log)", "rate ratio": "Tỷ số tỷ suất (thang log)",
        "sae_title": "{label}: ước lượng theo {area} (EBLUP, mô hình Fay-Herriot) với khoảng {level}",
        "sae_eblup": "EBLUP ({area} có mẫu)", "sae_synthetic": "Ước lượng tổng hợp ({area} không có mẫu)",
        "sae_direct": "Ước lượng trực tiếp từ mẫu", "sae_interval": "EBLUP ± 1,96·RMSE",
        "sae_note": "{Areas} xếp theo EBLUP trong từng {group}. Khoảng: EBLUP ± 1,96·RMSE (sai số toàn phương trung bình của mô hình).",
        "sae_diag_title": "Chẩn đoán mô hình diện hẹp: phần dư chuẩn hóa và ước lượng trực tiếp so với mô hình",
        "sae_residual": "Phần dư chuẩn hóa", "sae_areas": "Cỡ mẫu của {area} (số hộ hoặc người, n)",
        "sae_direct_axis": "Ước lượng trực tiếp", "sae_model_axis": "EBLUP (mô hình)",
        "sae_diag_note": "Trái: phần dư chuẩn hóa (y − x'β)/√(σ²u + ψ) của các {areas} có mẫu (đường ±2). Phải: ước lượng trực tiếp và EBLUP, đường 45°; điểm càng to khi mẫu càng lớn.",
        "coefficient": "Hệ số", "model_title": "{label}", "model_note": "Mỗi điểm: hệ số so với nhóm tham chiếu, "
        "với khoảng tin cậy {level}; mô hình {family}, {n} quan sát, bậc tự do {df}.",
    },
    "en": {
        "headline": "Key indicators ({overall}), with {level} confidence intervals and targets",
        "headline_plain": "Key indicators ({overall}), with {level} confidence intervals",
        "household": "Households", "person": "Persons", "persons": "Persons",
        "sae_title": "{label}: {area} estimates (EBLUP, Fay-Herriot model) with {level} intervals",
        "sae_eblup": "EBLUP (sampled {area})", "sae_synthetic": "Synthetic estimate ({area} without sample)",
        "sae_direct": "Direct survey estimate", "sae_interval": "EBLUP ± 1.96·RMSE",
        "sae_note": "{Areas} ranked by EBLUP within each {group}. Interval: EBLUP ± 1.96·RMSE (the model's root mean squared error).",
        "sae_diag_title": "Small-area model diagnostics: standardised residuals and direct vs model estimates",
        "sae_residual": "Standardised residual", "sae_areas": "Sample size of the {area} (households or persons, n)",
        "sae_direct_axis": "Direct estimate", "sae_model_axis": "EBLUP (model)",
        "sae_diag_note": "Left: standardised residuals (y − x'β)/√(σ²u + ψ) of the sampled {areas} (lines at ±2). Right: direct estimate against EBLUP with the 45° line; larger points, larger samples.",
        "estimate": "Estimate", "ci": "{level} confidence interval", "target": "Target",
        "target_short": "Target {year}: {value}",
        "percent_of": "Percent", "value": "Value",
        "suppressed": "suppressed (unreliable)", "flagged": "flagged for review (see note)",
        "note_suppressed": "Suppressed estimate: fails the reliability rules (NCHS): {rules}.",
        "note_flagged": "Hollow marker: estimate flagged for statistical review ({rules}).",
        "source": "Source: {source}.",
        "ci_method": "{level} confidence intervals: {methods}.",
        "ci_none": "No confidence intervals in this figure.",
        "weights": "Distribution of weights: design (base) and final weights",
        "weights_plain": "Distribution of the weights",
        "weights_x": "Weight (households represented by one sample household)", "weights_y": "Sample households",
        "w_base": "Design (base) weight", "w_nonresponse": "After nonresponse adjustment", "w_final": "Final weight",
        "weights_stats": "{name}: median {median}; max/min {ratio}; Kish deff {deff}",
        "controls": "Achieved vs control totals ({unit})",
        "controls_x": "Difference from the control total (%)",
        "rules": "Records per cleaning rule", "rules_x": "Records",
        "quarantine_action": "Quarantined (left out of the analysis)", "fix_action": "Value fixed (record kept)",
        "quarantine": "Quarantined records by reason", "quarantine_x": "Quarantined records",
        "response": "Response rates by stratum (unweighted)", "response_x": "Response rate (%)",
        "overall": "Overall", "n_fmt": "{resp}/{elig}",
        "no_data": "No data", "w_delivered": "Delivered weight",
        "odds ratio": "Odds ratio (log scale)", "rate ratio": "Rate ratio (log scale)",
        "coefficient": "Coefficient", "model_title": "{label}", "model_note": "Each point: a coefficient against the "
        "reference group, with its {level} confidence interval; {family} model, {n} observations, {df} df.",
    },
}

FLAG_WORDS = {  # the reliability flags of pipeline.reliability (formats.flag_text)
    "vi": {"n_eff": "cỡ mẫu hiệu dụng < {0}", "ci_width": "độ rộng KTC ≥ {0}",
           "rel_ci_width": "độ rộng tương đối của KTC > {0}", "df": "bậc tự do < {0}",
           "estimate_0_or_1": "ước lượng bằng 0 hoặc 100%"},
    "en": {"n_eff": "effective n < {0}", "ci_width": "CI width ≥ {0}", "rel_ci_width": "relative CI width > {0}",
           "df": "df < {0}", "estimate_0_or_1": "estimate is 0 or 100%"},
}

CI_METHODS = {
    "vi": {"beta": "Korn–Graubard (beta) cho tỷ lệ", "logit": "logit cho tỷ lệ", "xlogit": "logit (xlogit) cho tỷ lệ",
           "wilson": "Wilson cho tỷ lệ", "asin": "arcsin cho tỷ lệ", "mean": "Wald (sai số chuẩn) cho tỷ lệ",
           "normal": "Wald (phân phối chuẩn) cho tỷ lệ", "t": "phân phối t (Student) cho giá trị bình quân"},
    "en": {"beta": "Korn–Graubard (beta) for proportions", "logit": "logit for proportions",
           "xlogit": "logit (xlogit) for proportions", "wilson": "Wilson for proportions",
           "asin": "arcsine for proportions", "mean": "Wald (standard error) for proportions",
           "normal": "Wald (normal) for proportions", "t": "Student t for means"},
}

RULE_NAMES = {
    "vi": {"user_missing": "Mã thiếu (không biết/từ chối) → để trống", "unique_key": "Mã trùng lặp (giữ bản ghi đầu)",
           "frame_link": "Đơn vị mẫu không có trong dàn mẫu", "no_person": "Hộ hoàn thành không có nhân khẩu",
           "parent_link": "Không có hộ tương ứng"},
    "en": {"user_missing": "Missing code (don't know/refused) → blank", "unique_key": "Duplicate key (first kept)",
           "frame_link": "Sampling unit not in the frame", "no_person": "Completed household without persons",
           "parent_link": "No matching household"},
}

FILE_NAMES = {"vi": {"household": "Hộ", "person": "Nhân khẩu"}, "en": {"household": "Household", "person": "Person"}}

REPORT = {
    "vi": {
        "lang": "vi", "report": "Báo cáo kết quả", "contents": "Nội dung", "summary": "Tóm tắt các chỉ tiêu chính",
        "synthetic": "Số liệu trong báo cáo này là số liệu mô phỏng.", "indicator": "Chỉ tiêu", "estimate": "Ước lượng",
        "ci": "KTC {level}", "n": "n", "n_eff": "n hiệu dụng", "deff": "deff", "cv": "CV", "flags": "Ghi chú", "domain": "Nhóm",
        "target": "Mục tiêu quốc gia", "gap": "Khoảng cách đến mục tiêu", "pp": "điểm %", "reached": "đã đạt",
        "estimates": "Bảng ước lượng", "figures": "Biểu đồ", "methods": "Phương pháp", "quality": "Chất lượng dữ liệu",
        "validation": "Kiểm định", "household": "Hộ gia đình", "person": "Nhân khẩu",
        "proportion": "tỷ lệ", "mean": "bình quân", "universe": "Phạm vi", "numerator": "Định nghĩa",
        "everyone": "tất cả", "suppressed": "ẩn", "review": "cần xem xét",
        "estimates_note": "Ước lượng bị ẩn (—) không đạt quy tắc độ tin cậy; lý do ghi ở cột Ghi chú. "
                          "Ước lượng có đánh dấu ⚑ cần xem xét thống kê.",
        "design": "Thiết kế mẫu", "strata": "Số tầng", "psus": "Số đơn vị mẫu cấp 1 (PSU)",
        "design_df": "Bậc tự do của thiết kế (PSU − tầng)", "sample": "Cỡ mẫu",
        "var_strata": "Số tầng tính phương sai (cặp PSU)",
        "var_df": "Bậc tự do của phương sai (PSU − tầng tính phương sai)",
        "pairs": "Tầng tính phương sai: các PSU được ghép cặp theo thứ tự chọn ({order}) trong mỗi tầng{within} "
                 "(chọn hệ thống tạo phân tầng ngầm; Wolter 2007, §8.3)",
        "pairs_within": ", các PSU cùng {within} được ghép với nhau",
        "fpc_fraction": "{col} (tỷ lệ chọn PSU của tầng, n_h/N_h)",
        "hh_raw": "Hộ trong tệp thu thập", "hh_clean": "Hộ sau làm sạch", "hh_eligible": "Hộ thuộc phạm vi",
        "hh_resp": "Hộ trả lời", "persons": "Nhân khẩu của hộ trả lời", "rr_unweighted": "Tỷ lệ trả lời (không quyền số)",
        "rr_weighted": "Tỷ lệ trả lời (có quyền số thiết kế)", "strata_col": "Biến tầng", "psu_col": "Biến PSU",
        "weighting": "Các bước gia quyền", "step": "Bước", "method": "Phương pháp", "iterations": "Số vòng lặp",
        "converged": "Hội tụ", "max_disc": "Sai lệch tối đa", "n_trimmed": "Số bị cắt",
        "sum_w": "Tổng quyền số", "w_min": "Nhỏ nhất", "w_median": "Trung vị", "w_max": "Lớn nhất",
        "w_ratio": "Lớn nhất/nhỏ nhất", "kish": "deff Kish", "base": "Quyền số thiết kế (1/xác suất chọn)",
        "yes": "có", "no": "không", "variance": "Phương pháp tính phương sai", "ci_method": "Khoảng tin cậy",
        "reliability": "Quy tắc độ tin cậy (NCHS)", "controls": "Tổng kiểm soát",
        "taylor": "Tuyến tính hóa Taylor (phương sai giữa các PSU trong tầng)",
        "replicate": "Quyền số lặp lại: {method}, {n} bộ (mỗi bộ được gia quyền lại như quyền số chính)",
        "lonely": "Tầng chỉ có một PSU", "fpc": "Hiệu chỉnh quần thể hữu hạn", "none": "không",
        "rule_min_n_eff": "Ẩn khi cỡ mẫu hiệu dụng nhỏ hơn {v}",
        "rule_max_ci_width": "Ẩn khi độ rộng khoảng tin cậy ≥ {v} điểm %",
        "rule_rel": "Ẩn khi độ rộng tương đối > {v} (áp dụng khi độ rộng > {w} điểm %)",
        "rule_min_df": "Cần xem xét khi bậc tự do < {v}; hoặc ước lượng bằng 0 hoặc 100%",
        "accounting": "Số bản ghi", "file": "Tệp", "raw": "Thu thập", "clean": "Sau làm sạch", "quarantined": "Bị cách ly",
        "rules": "Số bản ghi theo quy tắc", "rule": "Quy tắc", "action": "Xử lý", "records": "Số bản ghi",
        "reason": "Lý do", "fixes": "Số giá trị đã sửa", "response": "Tỷ lệ trả lời theo tầng",
        "stratum": "Tầng", "eligible": "Thuộc phạm vi", "respondents": "Trả lời", "rate": "Tỷ lệ",
        "quarantine_a": "cách ly", "fix_a": "sửa giá trị", "validation_intro": "Kết quả nghiên cứu độ phủ của khoảng tin cậy "
        "(tệp validation/coverage.csv).", "footer": "Tạo bởi pipeline (python -m pipeline.report) từ các tệp trong build/{name}/.",
        "fig_weights": "Phân phối quyền số thiết kế và quyền số cuối cùng.",
        "fig_weights_plain": "Phân phối quyền số.",
        "why_no_headline": "không có chỉ tiêu tỷ lệ chính nào có ước lượng chung",
        "why_no_areas": "không có nhóm nào có đúng một biến phân tổ để vẽ (đặt chart = true cho một nhóm)",
        "why_no_controls": "không có tổng kiểm soát ([[weighting.controls]])",
        "why_no_rules": "không có quy tắc làm sạch nào sửa hoặc cách ly bản ghi",
        "why_no_quarantine": "không có bản ghi nào bị cách ly",
        "why_no_response": "quyền số do cuộc điều tra cung cấp: không có tình trạng trả lời",
        "fig_controls": "Tổng đạt được theo từng bước gia quyền so với tổng kiểm soát.",
        "fig_rules": "Số bản ghi bị cách ly hoặc được sửa theo từng quy tắc làm sạch.",
        "fig_quarantine": "Bản ghi bị cách ly theo lý do.", "fig_response": "Tỷ lệ trả lời theo tầng.",
        "fig_headline": "Các chỉ tiêu chính ({overall}) với khoảng tin cậy {level} và mục tiêu.",
        "fig_headline_plain": "Các chỉ tiêu chính ({overall}) với khoảng tin cậy {level}.",
        "fig_district": "{label}: theo {domains}.",
        "district_figures": "Chỉ tiêu chính theo địa bàn", "weight_figures": "Chẩn đoán quyền số",
        "w_range": "Nhỏ nhất / trung vị / lớn nhất",
        "delivered": "Quyền số cuối cùng do cuộc điều tra cung cấp (biến {col})",
        "delivered_unit": "Quyền số của {unit}: biến {col}",
        "delivered_reps": "Quyền số lặp lại do cuộc điều tra cung cấp: {type}, {n} bộ",
        "not_drawn": "Không vẽ: {why}", "and": " và ",
        "models": "Mô hình hồi quy và so sánh", "model_figures": "Mô hình hồi quy",
        "small_areas": "Ước lượng diện hẹp (cấp {area})",
        "sae_method": "Mẫu khảo sát chỉ có ít đơn vị ở mỗi {area}, và nhiều {areas} không có đơn vị nào trong mẫu, nên ước lượng trực tiếp cho từng {area} rất không chắc chắn hoặc không có. Mô hình Fay-Herriot kết hợp ước lượng trực tiếp của {area} với dự báo từ các đặc điểm đã biết của {area} (ước lượng tổng hợp): {area} có mẫu lớn dựa chủ yếu vào số liệu khảo sát của chính {area} đó, {area} có mẫu nhỏ dựa nhiều hơn vào mô hình, và {area} không có mẫu chỉ dựa vào mô hình. Kết quả (EBLUP) có sai số nhỏ hơn ước lượng trực tiếp; độ bất định của mỗi {area} được đo bằng RMSE và khoảng EBLUP ± 1,96·RMSE. Các ước lượng này dựa trên mô hình: nên dùng để so sánh và xếp hạng các {areas}, thận trọng khi đọc từng con số riêng lẻ, nhất là ở các {areas} không có mẫu.",
        "sae_fit": "Mô hình", "sae_sigma2": "σ²u (phương sai giữa các {areas})", "sae_r2": "R² (trực tiếp so với tổng hợp)",
        "sae_sampled": "Số {areas} có mẫu", "sae_synthetic_n": "Số {areas} không có mẫu (ước lượng tổng hợp)",
        "sae_resid_sd": "Độ lệch chuẩn của phần dư chuẩn hóa", "sae_resid_out": "Tỷ lệ |phần dư| > 2",
        "sae_method_row": "Phương pháp ước lượng σ²u", "sae_transform": "Biến đổi",
        "sae_lowest": "10 {areas} có EBLUP thấp nhất", "sae_area": "{Area}", "sae_district": "{Group}", "sae_rmse": "RMSE",
        "sae_direct": "Trực tiếp", "sae_csv": "Bảng đầy đủ của {n} {areas} × {k} chỉ tiêu: {file} (thư mục build của khảo sát).",
        "sae_synthetic_mark": "tổng hợp",
        "why_no_sae": "không có ước lượng diện hẹp ([sae] trong survey.toml)",
        "fig_sae": "{label}: EBLUP từng {area} với khoảng EBLUP ± 1,96·RMSE, xếp trong từng {group}; ước lượng trực tiếp bên cạnh nếu {area} có mẫu.",
        "fig_sae_diag": "Chẩn đoán mô hình Fay-Herriot của mỗi chỉ tiêu: phần dư chuẩn hóa và ước lượng trực tiếp so với EBLUP.",
        "why_no_models": "không có mô hình ([[models]] trong survey.toml)",
        "fig_model": "{label}: {ratio} với khoảng tin cậy {level} (nhóm tham chiếu: nhóm đầu tiên của mỗi biến).",
        "ratio_names": {"odds ratio": "tỷ số chênh", "rate ratio": "tỷ số tỷ suất", "": "hệ số"},
        "model_table": "Hệ số của mô hình", "term": "Biến", "ratio_col": {"odds ratio": "Tỷ số chênh",
                                                                          "rate ratio": "Tỷ số tỷ suất", "": "Hệ số"},
        "p": "p", "comparisons": "So sánh giữa các nhóm",
        "comparisons_note": "Chênh lệch a − b (điểm phần trăm đối với tỷ lệ) ước lượng trong toàn bộ thiết kế mẫu, "
                            "với khoảng tin cậy {level} và kiểm định t theo bậc tự do của thiết kế; p điều chỉnh: "
                            "điều chỉnh cho nhiều so sánh (Holm hoặc Bonferroni) trong từng so sánh.",
        "compare_a": "Nhóm a", "compare_b": "Nhóm b", "difference": "Chênh lệch", "p_adjusted": "p điều chỉnh",
        "no_comparisons": "Không có so sánh ([[comparisons]] trong survey.toml).",
        "why_no_weights": "không có quyền số",
        "n_raw": "Số bản ghi trong tệp thu thập ({unit})",
        "n_used": "Số bản ghi dùng để ước lượng ({unit})",
        "weights_used": "Quyền số",
        "steps_names": {"nonresponse": "Điều chỉnh không trả lời", "rake": "Cân chỉnh theo tổng kiểm soát (raking)",
                        "calibrate": "Cân chỉnh theo tổng kiểm soát", "delivered": "Quyền số được cung cấp", "trim": "Cắt quyền số lớn, cân chỉnh lại"},
    },
    "en": {
        "lang": "en", "report": "Results report", "contents": "Contents", "summary": "Summary of key indicators",
        "synthetic": "The figures in this report are synthetic.", "indicator": "Indicator", "estimate": "Estimate",
        "ci": "{level} CI", "n": "n", "n_eff": "effective n", "deff": "deff", "cv": "CV", "flags": "Notes", "domain": "Domain",
        "target": "National target", "gap": "Gap to target", "pp": "pp", "reached": "reached",
        "estimates": "Estimates", "figures": "Figures", "methods": "Methods", "quality": "Data quality",
        "validation": "Validation", "household": "Households", "person": "Persons",
        "proportion": "proportion", "mean": "mean", "universe": "Universe", "numerator": "Definition",
        "everyone": "all", "suppressed": "suppressed", "review": "review",
        "estimates_note": "Suppressed estimates (—) fail the reliability rules; the reason is in the Notes column. "
                          "Estimates marked ⚑ are flagged for statistical review.",
        "design": "Sample design", "strata": "Strata", "psus": "Primary sampling units",
        "design_df": "Design degrees of freedom (PSUs − strata)", "sample": "Sample size",
        "var_strata": "Variance strata (pairs of PSUs)",
        "var_df": "Variance degrees of freedom (PSUs − variance strata)",
        "pairs": "Variance strata: PSUs paired in selection order ({order}) within each stratum{within} "
                 "(systematic selection stratifies implicitly; Wolter 2007, §8.3)",
        "pairs_within": ", those of one {within} together",
        "fpc_fraction": "{col} (the stratum's PSU sampling fraction, n_h/N_h)",
        "hh_raw": "Households in the collected file", "hh_clean": "Households after cleaning",
        "hh_eligible": "Eligible households", "hh_resp": "Responding households",
        "persons": "Persons in responding households", "rr_unweighted": "Response rate (unweighted)",
        "rr_weighted": "Response rate (design-weighted)", "strata_col": "Stratum variable", "psu_col": "PSU variable",
        "weighting": "Weighting steps", "step": "Step", "method": "Method", "iterations": "Iterations",
        "converged": "Converged", "max_disc": "Max. discrepancy", "n_trimmed": "Weights trimmed",
        "sum_w": "Sum of weights", "w_min": "Min", "w_median": "Median", "w_max": "Max", "w_ratio": "Max/min",
        "kish": "Kish deff", "base": "Design weight (1/selection probability)", "yes": "yes", "no": "no",
        "variance": "Variance estimation", "ci_method": "Confidence intervals", "reliability": "Reliability rules (NCHS)",
        "controls": "Control totals",
        "taylor": "Taylor linearisation (variance between PSUs within strata)",
        "replicate": "Replicate weights: {method}, {n} replicates (each re-weighted like the full-sample weights)",
        "lonely": "Strata with a single PSU", "fpc": "Finite population correction", "none": "none",
        "rule_min_n_eff": "Suppressed when the effective sample size is below {v}",
        "rule_max_ci_width": "Suppressed when the CI is {v} percentage points wide or wider",
        "rule_rel": "Suppressed when the relative CI width exceeds {v} (applies when the width exceeds {w} pp)",
        "rule_min_df": "Flagged for review when the design df is below {v}, or the estimate is 0 or 100%",
        "accounting": "Records", "file": "File", "raw": "Collected", "clean": "Clean", "quarantined": "Quarantined",
        "rules": "Records per rule", "rule": "Rule", "action": "Action", "records": "Records", "reason": "Reason",
        "fixes": "Values fixed", "response": "Response rates by stratum", "stratum": "Stratum", "eligible": "Eligible",
        "respondents": "Respondents", "rate": "Rate", "quarantine_a": "quarantine", "fix_a": "fix value",
        "validation_intro": "Results of the confidence-interval coverage study (validation/coverage.csv).",
        "footer": "Made by the pipeline (python -m pipeline.report) from the files in build/{name}/.",
        "fig_weights": "Distribution of design (base) and final weights.",
        "fig_weights_plain": "Distribution of the weights.",
        "why_no_headline": "no key proportion indicator has an overall estimate",
        "why_no_areas": "no domain with one by variable to chart (set chart = true on a domain)",
        "why_no_controls": "no control totals ([[weighting.controls]])",
        "why_no_rules": "no cleaning rule fixed or quarantined a record",
        "why_no_quarantine": "no record was quarantined",
        "why_no_response": "the weights were delivered with the data: no response status",
        "fig_controls": "Achieved totals after each weighting step against the control totals.",
        "fig_rules": "Records quarantined or fixed by each cleaning rule.",
        "fig_quarantine": "Quarantined records by reason.", "fig_response": "Response rates by stratum.",
        "fig_headline": "Key indicators ({overall}) with {level} confidence intervals and targets.",
        "fig_headline_plain": "Key indicators ({overall}) with {level} confidence intervals.",
        "fig_district": "{label}: by {domains}.",
        "district_figures": "Key indicators by area", "weight_figures": "Weighting diagnostics",
        "w_range": "Min / median / max",
        "delivered": "Final weights delivered with the data (column {col})",
        "delivered_unit": "Weight of the {unit} file: column {col}",
        "delivered_reps": "Replicate weights delivered with the data: {type}, {n} replicates",
        "not_drawn": "Not drawn: {why}", "and": " and ",
        "models": "Models and comparisons", "model_figures": "Regression models",
        "small_areas": "Small areas ({areas})",
        "sae_method": "The survey has few sampled units in each {area}, and many {areas} have none in the sample, so the direct survey estimate of each {area} is very uncertain or missing. The Fay-Herriot model combines each {area}'s direct estimate with a prediction from what is known of every {area} (the synthetic estimate): {areas} with a large sample rely mostly on their own survey data, {areas} with a small sample lean more on the model, and {areas} without a sample rely on the model alone. The result (the EBLUP) has a smaller error than the direct estimate; each {area}'s uncertainty is its RMSE and the interval EBLUP ± 1.96·RMSE. These are model-based estimates: use them to compare and rank {areas}, and read single numbers with care, above all in {areas} without a sample.",
        "sae_fit": "Model", "sae_sigma2": "σ²u (between-{area} variance)", "sae_r2": "R² (direct vs synthetic)",
        "sae_sampled": "{Areas} with a sample", "sae_synthetic_n": "{Areas} without a sample (synthetic)",
        "sae_resid_sd": "SD of standardised residuals", "sae_resid_out": "Share with |residual| > 2",
        "sae_method_row": "Estimation of σ²u", "sae_transform": "Transformation",
        "sae_lowest": "The 10 {areas} with the lowest EBLUP", "sae_area": "{Area}", "sae_district": "{Group}",
        "sae_rmse": "RMSE", "sae_direct": "Direct",
        "sae_csv": "The full table of the {n} {areas} × {k} indicators: {file} (in the survey's build folder).",
        "sae_synthetic_mark": "synthetic",
        "why_no_sae": "no small-area estimates ([sae] in survey.toml)",
        "fig_sae": "{label}: each {area}'s EBLUP with the interval EBLUP ± 1.96·RMSE, ranked within {groups}; the direct estimate beside it where the {area} was sampled.",
        "fig_sae_diag": "Fay-Herriot model diagnostics of each indicator: standardised residuals, and direct estimates against the EBLUPs.",
        "why_no_models": "no models ([[models]] in survey.toml)",
        "fig_model": "{label}: {ratio} with {level} confidence intervals (reference: the first group of each variable).",
        "ratio_names": {"odds ratio": "odds ratios", "rate ratio": "rate ratios", "": "coefficients"},
        "model_table": "Model coefficients", "term": "Term", "ratio_col": {"odds ratio": "Odds ratio",
                                                                          "rate ratio": "Rate ratio", "": "Coefficient"},
        "p": "p", "comparisons": "Comparisons between groups",
        "comparisons_note": "Differences a − b (percentage points for proportions) estimated inside the full design, "
                            "with {level} confidence intervals and t tests on the design df; adjusted p: adjusted for "
                            "multiple comparisons (Holm or Bonferroni) within each comparison.",
        "compare_a": "Group a", "compare_b": "Group b", "difference": "Difference", "p_adjusted": "adjusted p",
        "no_comparisons": "No comparisons ([[comparisons]] in survey.toml).",
        "why_no_weights": "no weights",
        "n_raw": "Records in the collected file ({unit})",
        "n_used": "Records used in the estimates ({unit})",
        "weights_used": "Weights",
        "steps_names": {"nonresponse": "Nonresponse adjustment", "rake": "Raking to the control totals",
                        "calibrate": "Calibration to the control totals", "delivered": "Delivered weights", "trim": "Trimming, re-calibrated"},
    },
}

LONELY = {
    "vi": {"adjust": "adjust — độ lệch so với trung bình toàn bộ", "fail": "fail — báo lỗi", "remove": "remove — bỏ qua",
           "certainty": "certainty — coi như chọn chắc chắn", "average": "average — lấy trung bình các tầng khác"},
    "en": {"adjust": "adjust — deviation from the grand mean", "fail": "fail — stop with an error",
           "remove": "remove — left out", "certainty": "certainty — treated as certainty units",
           "average": "average — average of the other strata"},
}

VALIDATION = {
    "vi": {"indicator": "Chỉ tiêu", "truth": "Giá trị thật", "mean_estimate": "Ước lượng bình quân",
           "relative_bias": "Độ chệch tương đối", "coverage": "Độ phủ KTC", "se_ratio": "SE ước lượng / SE thực nghiệm",
           "replicates": "Số lần lặp", "domain": "Nhóm", "cells": "Số ô", "mean_cov": "Độ phủ trung bình",
           "min_cov": "Độ phủ thấp nhất", "by_domain": "Độ phủ theo loại nhóm (phương pháp KTC: {m})",
           "province": "Các chỉ tiêu, {overall} (phương pháp KTC: {m})", "rows": "Các dòng đầu của tệp",
           "sae": "Ước lượng cấp {area} (mô hình Fay–Herriot), {R} mẫu mô phỏng: độ phủ của EBLUP ± 1,96·RMSE",
           "sae_areas": "Số {areas}", "sae_gain": "Lợi ích MSE (trung vị MSE trực tiếp / MSE EBLUP, các {areas} có mẫu)",
           "sae_cov_range": "Độ phủ các {areas}, phân vị 5–95%"},
    "en": {"indicator": "Indicator", "truth": "True value", "mean_estimate": "Mean estimate",
           "relative_bias": "Relative bias", "coverage": "CI coverage", "se_ratio": "Estimated SE / empirical SE",
           "replicates": "Replicates", "domain": "Domain", "cells": "Cells", "mean_cov": "Mean coverage",
           "min_cov": "Lowest coverage", "by_domain": "Coverage by domain type (CI method: {m})",
           "province": "Indicators, {overall} (CI method: {m})", "rows": "First rows of the file",
           "sae": "{Area} estimates (Fay–Herriot model), {R} simulated samples: coverage of EBLUP ± 1.96·RMSE",
           "sae_areas": "{Areas}", "sae_gain": "MSE gain (median direct / EBLUP MSE, sampled {areas})",
           "sae_cov_range": "{Area} coverage, 5th–95th percentile"},
}

COVERAGE_FIGURE = {
    "en": {"title": "Coverage of 95% confidence intervals: {R} simulated samples", "x": "coverage",
           "band": "95% ± 2 Monte-Carlo SE", "note": "Each point: one domain value; samples drawn from the synthetic "
           "population with the survey's design and nonresponse, weighted and estimated by the pipeline."},
    "vi": {"title": "Độ phủ của khoảng tin cậy 95%: {R} mẫu mô phỏng", "x": "độ phủ",
           "band": "95% ± 2 sai số Monte-Carlo", "note": "Mỗi điểm: một giá trị của miền; mẫu rút từ tổng thể mô phỏng "
           "theo thiết kế và mô hình không trả lời của cuộc điều tra, gia quyền và ước lượng bằng pipeline."},
}
