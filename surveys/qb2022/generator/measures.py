"""What the demo survey measures: indicator definitions, province shares, ICT skills, answer codes."""

from __future__ import annotations

#: Province shares fixed by construction, as exact fractions (numerator, denominator).
SMARTPHONE_SHARE = (7907, 10000)
FIBER_SHARE = (5921, 10000)

AGE_GROUPS = [(0, 14, "0-14"), (15, 24, "15-24"), (25, 39, "25-39"), (40, 59, "40-59"), (60, 200, "60+")]

HH_INDICATORS = {
    # id: (column in population.households, description)
    "hh_mobile": ("hh_mobile", "households with any mobile phone"),
    "hh_smartphone": ("hh_smartphone", "households with at least one smartphone"),
    "hh_computer": ("hh_computer", "households with a computer"),
    "hh_internet": ("hh_internet", "households with internet access at home"),
    "hh_fiber": ("hh_fiber", "households with fiber broadband"),
    "hh_fixed_bb": ("hh_fixed_bb", "households with any fixed broadband (fiber or other)"),
    "hh_mobile_bb": ("hh_mobile_bb", "households with mobile broadband at home"),
}
HH_MEANS = {
    "hh_n_smartphones": ("n_smartphones", None, "mean number of smartphones per household"),
    "hh_internet_spend": ("internet_spend", "hh_internet", "mean monthly internet spending (thousand VND), households with internet at home"),
}
P_INDICATORS = {
    "p_smartphone": "persons 15+ owning a smartphone",
    "p_internet": "persons 15+ who used the internet in the last 3 months",
    "p_egov": "persons 15+ who used online public services in the last 12 months",
    "p_account": "persons 15+ with a bank or e-wallet payment account",
    "p_digipay": "persons 15+ who paid digitally in the last 12 months",
    "p_esign": "persons 15+ with a digital signature",
    **{f"p_skill{j}": f"persons 15+ with ICT skill {j}" for j in range(1, 10)},
    "p_anyskill": "persons 15+ with at least one of the nine ICT skills",
}

SKILLS = [
    ("Sao chép hoặc di chuyển tệp, thư mục", "Copied or moved a file or folder", 0.8),
    ("Sao chép và dán trong một tài liệu", "Used copy and paste tools within a document", 0.3),
    ("Gửi thư điện tử có đính kèm tệp", "Sent e-mail with attached files", 1.3),
    ("Dùng công thức cơ bản trong bảng tính", "Used basic arithmetic formulas in a spreadsheet", 2.1),
    ("Kết nối và cài đặt thiết bị mới", "Connected and installed new devices", 1.1),
    ("Tìm, tải, cài đặt và cấu hình phần mềm", "Found, downloaded, installed and configured software", 1.7),
    ("Tạo bài trình chiếu điện tử", "Created electronic presentations", 2.3),
    ("Chuyển tệp giữa máy tính và thiết bị khác", "Transferred files between a computer and other devices", 0.6),
    ("Viết chương trình máy tính", "Wrote a computer program", 3.8),
]

NO_INTERNET_REASONS = [
    (1, "Không cần thiết/không hữu ích", "Do not need it / not useful"),
    (2, "Không biết sử dụng", "Lack of skills"),
    (3, "Chi phí thiết bị quá cao", "Cost of equipment too high"),
    (4, "Chi phí dịch vụ quá cao", "Cost of service too high"),
    (5, "Không có dịch vụ tại khu vực", "Service not available in the area"),
    (6, "Lo ngại về quyền riêng tư, an ninh", "Privacy or security concerns"),
    (7, "Có thể truy cập ở nơi khác", "Have access elsewhere"),
    (96, "Lý do khác", "Other"),
]

