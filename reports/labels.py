"""The report's words in English and Vietnamese, and how each language writes numbers and dates."""

from __future__ import annotations

from datetime import date, datetime

from reports.projection import HANOI, Projection

__all__ = ["LANGUAGES", "Labels"]

LANGUAGES = ("en", "vi")

_TEXTS: dict[str, tuple[str, str]] = {
    # key: (English, Vietnamese)
    "title": ("Cashless payments in Hanoi", "Thanh toán không dùng tiền mặt tại Hà Nội"),
    "subtitle": (
        "Adoption against the city's goals, from the live monitor",
        "Mức độ phổ cập so với mục tiêu của thành phố, theo dữ liệu giám sát trực tuyến",
    ),
    "as_of": ("Figures as of", "Số liệu tính đến"),
    "newest_event": ("newest payment received", "giao dịch mới nhất nhận được"),
    "section.headline": ("The city against its goals", "Thành phố so với mục tiêu"),
    "section.segments": (
        "Utilities, markets and streets",
        "Dịch vụ tiện ích, chợ và tuyến phố",
    ),
    "section.districts": ("Districts", "Quận, huyện, thị xã"),
    "section.trends": ("Trends", "Xu hướng"),
    "section.attention": (
        "Segments stalled or below the goal",
        "Lĩnh vực chững lại hoặc dưới mục tiêu",
    ),
    "section.quality": ("Data quality", "Chất lượng dữ liệu"),
    "section.alerts": ("Alerts firing now", "Cảnh báo đang kích hoạt"),
    "noncash_share": ("Non-cash share of payments", "Tỷ lệ thanh toán không dùng tiền mặt"),
    "noncash_share_30d": (
        "Non-cash share, last 30 days",
        "Tỷ lệ không dùng tiền mặt, 30 ngày gần nhất",
    ),
    "coverage": (
        "Population with an e-payment account",
        "Dân số có tài khoản thanh toán điện tử",
    ),
    "goal": ("Goal", "Mục tiêu"),
    "goal_line": ("goal", "mục tiêu"),
    "deadline": ("Deadline", "Thời hạn"),
    "deadline_passed": ("passed", "đã qua"),
    "deadline_ahead": ("ahead", "chưa đến"),
    "projected": ("Reaches the goal", "Đạt mục tiêu"),
    "reached": ("reached", "đã đạt"),
    "not_at_trend": ("not at the current trend", "không đạt với xu hướng hiện tại"),
    "no_trend": ("no trend yet", "chưa có xu hướng"),
    "after_deadline": ("after the deadline", "sau thời hạn"),
    "before_deadline": ("before the deadline", "trước thời hạn"),
    "too_few": ("too few events", "quá ít giao dịch"),
    "no_data": ("no data", "không có dữ liệu"),
    "trend_per_day": ("Trend per day", "Xu hướng mỗi ngày"),
    "points_per_day": ("points a day", "điểm phần trăm mỗi ngày"),
    "channel.utility": ("Utility", "Dịch vụ tiện ích"),
    "channel.market": ("Market", "Chợ"),
    "channel.street": ("Street", "Tuyến phố"),
    "name": ("Name", "Tên"),
    "kind": ("Kind", "Loại"),
    "district": ("District", "Quận/huyện"),
    "share": ("Non-cash share", "Tỷ lệ không tiền mặt"),
    "status": ("Status", "Tình trạng"),
    "stalled": ("stalled", "chững lại"),
    "below_goal": ("below the goal", "dưới mục tiêu"),
    "nothing_stalled": (
        "Every segment has reached the goal or is rising.",
        "Mọi lĩnh vực đã đạt mục tiêu hoặc đang tăng.",
    ),
    "city_share_1d": ("City, last day", "Toàn thành phố, 1 ngày"),
    "city_share_30d": ("City, last 30 days", "Toàn thành phố, 30 ngày"),
    "trend_range": ("Over the last", "Trong khoảng"),
    "rejected": ("Rejected to the dead-letter topic", "Bị từ chối (hàng đợi lỗi)"),
    "reason": ("Reason", "Lý do"),
    "count": ("Count", "Số lượng"),
    "duplicates": ("Duplicates dropped", "Giao dịch trùng bị loại"),
    "late": ("Late events dropped", "Giao dịch đến muộn bị loại"),
    "silent_sources": ("Sources silent over a day", "Nguồn im lặng quá một ngày"),
    "source": ("Source", "Nguồn"),
    "behind": ("Behind the newest event", "Chậm so với giao dịch mới nhất"),
    "none": ("none", "không có"),
    "no_alerts": ("No alert is firing.", "Không có cảnh báo nào."),
    "alert": ("Alert", "Cảnh báo"),
    "severity": ("Severity", "Mức độ"),
    "since": ("Since", "Từ"),
    "history_since": (
        "Prometheus holds these figures since",
        "Prometheus lưu các số liệu này từ",
    ),
    "summary": ("Summary", "Tóm tắt"),
    "days": ("days", "ngày"),
    "hours": ("hours", "giờ"),
    "figures_file": (
        "Every figure, with the query it came from: report.json",
        "Mọi số liệu, kèm truy vấn gốc: report.json",
    ),
}

_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class Labels:
    """The texts and number formats of one language."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}: choose one of {', '.join(LANGUAGES)}")
        self.lang = lang
        self._column = LANGUAGES.index(lang)

    def __getitem__(self, key: str) -> str:
        return _TEXTS[key][self._column]

    def percent(self, ratio: float, digits: int = 1) -> str:
        """`43.2%` in English, `43,2%` in Vietnamese."""
        text = f"{100 * ratio:.{digits}f}"
        return (text.replace(".", ",") if self.lang == "vi" else text) + "%"

    def number(self, value: float) -> str:
        """`1,250,000` in English, `1.250.000` in Vietnamese."""
        text = f"{round(value):,}"
        return text.replace(",", ".") if self.lang == "vi" else text

    def points_per_day(self, slope: float) -> str:
        """A trend in percentage points a day, signed."""
        text = f"{100 * slope:+.2f}"
        text = text.replace(".", ",") if self.lang == "vi" else text
        return f"{text} {self['points_per_day']}"

    def date(self, day: date) -> str:
        """`14 March 2027` in English, `14/03/2027` in Vietnamese."""
        if self.lang == "vi":
            return day.strftime("%d/%m/%Y")
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"

    def moment(self, at: datetime) -> str:
        """`3 December 2026 08:15` in English, `03/12/2026 08:15` in Vietnamese, Hanoi time."""
        local = at.astimezone(HANOI)
        return f"{self.date(local.date())} {local:%H:%M}"

    def projection(self, projection: Projection) -> str:
        """`reached`, `14 March 2027 (before the deadline)`, `not at the current trend`, …"""
        if projection.status == "reached":
            return self["reached"]
        if projection.status == "not_at_trend":
            return self["not_at_trend"]
        if projection.status == "no_trend" or projection.day is None:
            return self["no_trend"]
        when = "before_deadline" if projection.before_deadline else "after_deadline"
        return f"{self.date(projection.day)} ({self[when]})"

    def share(self, ratio: float | None) -> str:
        """A share as a percentage, or "too few events" for a suppressed cell."""
        return self["too_few"] if ratio is None else self.percent(ratio)


def keys() -> list[str]:
    """Every label key (for tests)."""
    return list(_TEXTS)
