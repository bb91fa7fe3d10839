"""Date values as IAM reads them: epoch seconds or an ISO 8601 date/time, parsed leniently.

IAM's parser (its year range, -292275054 to 292278993, is that of the ISO chronology of
Joda-Time, whose ISO ``dateTimeParser`` grammar it follows) accepts much more than the
``YYYY-MM-DDThh:mm:ssZ`` form the documentation shows:

    value          = epoch | datetime
    epoch          = digit+                            (0 .. 2^63-1 seconds)
    datetime       = time | date-opt-time
    time           = 'T' time-element [offset]         (on 1970-01-01)
    date-opt-time  = date-element ['T' [time-element] [offset]]
    date-element   = yyyy ['-' MM ['-' dd]]            (calendar date)
                   | yyyy '-W' ww ['-' e]              (ISO week date)
                   | yyyy '-' DDD                      (ordinal date)
    time-element   = HH [':' mm [':' ss [fraction] | fraction] | fraction]
    fraction       = ('.' | ',') digit{1,9}
    offset         = 'Z' | ('+' | '-') hh [[':'] mm]

``yyyy`` is a signed year of 1 to 9 digits; ``MM``, ``dd``, ``HH``, ``mm`` and ``ss`` take 1 or 2
digits, ``DDD`` 1 to 3; the offset's fields take exactly 2.  Letters match in either case
(``2016-12-13t2:00:00+23`` is valid).  Of the date-element forms the one that reads furthest
wins, the calendar date on a tie; a form that reads but names no real day (``2024-13``,
``2023-02-29``) makes the value invalid.  Without an offset a value is UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_YEAR = -292275054
MAX_YEAR = 292278993
MAX_EPOCH = 2**63 - 1


@dataclass(slots=True)
class _Reader:
    text: str
    pos: int = 0

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def literal(self, ch: str) -> bool:
        if self.peek().upper() == ch:
            self.pos += 1
            return True
        return False

    def digits(self, most: int, least: int = 1) -> int | None:
        start = self.pos
        while self.pos < len(self.text) and self.pos - start < most and self.text[self.pos].isdigit():
            self.pos += 1
        if self.pos - start < least:
            self.pos = start
            return None
        return int(self.text[start : self.pos])

    def fraction(self) -> float:
        """A ``.ddd`` / ``,ddd`` fraction (0 when absent); the reader stays put when it is not one."""
        if self.peek() in (".", ",") and self.peek(1).isdigit():
            self.pos += 1
            start = self.pos
            value = self.digits(9)
            assert value is not None
            return float(value) / float(10 ** (self.pos - start))
        return 0.0

    def signed_year(self) -> int | None:
        start = self.pos
        sign = 1
        if self.peek() in ("+", "-"):
            sign = -1 if self.peek() == "-" else 1
            self.pos += 1
        value = self.digits(9)
        if value is None:
            self.pos = start
            return None
        return sign * value


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (year 0 exists, as in ISO 8601)."""
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if _leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _weeks_in(year: int) -> int:
    jan1 = (_days_from_civil(year, 1, 1) + 3) % 7  # 0 = Monday
    return 53 if jan1 == 3 or (jan1 == 2 and _leap(year)) else 52


# A date element, read: (end position, days since the epoch or None when the fields are out of range).
_Element = tuple[int, int | None]


def _calendar(text: str, start: int) -> _Element | None:
    r = _Reader(text, start)
    year = r.signed_year()
    if year is None:
        return None
    month = day = 1
    mark = r.pos
    if r.literal("-"):
        got = r.digits(2)
        if got is None:
            r.pos = mark
        else:
            month = got
            mark = r.pos
            if r.literal("-"):
                got = r.digits(2)
                if got is None:
                    r.pos = mark
                else:
                    day = got
    if not (1 <= month <= 12) or not (1 <= day <= _month_days(year, month)):
        return r.pos, None
    return r.pos, _days_from_civil(year, month, day)


def _week_date(text: str, start: int) -> _Element | None:
    r = _Reader(text, start)
    year = r.signed_year()
    if year is None or not r.literal("-") or not r.literal("W"):
        return None
    week = r.digits(2)
    if week is None:
        return None
    weekday = 1
    mark = r.pos
    if r.literal("-"):
        got = r.digits(1)
        if got is None:
            r.pos = mark
        else:
            weekday = got
    if not (1 <= week <= _weeks_in(year)) or not (1 <= weekday <= 7):
        return r.pos, None
    jan4 = _days_from_civil(year, 1, 4)
    monday_of_week1 = jan4 - (jan4 + 3) % 7
    return r.pos, monday_of_week1 + (week - 1) * 7 + weekday - 1


def _ordinal(text: str, start: int) -> _Element | None:
    r = _Reader(text, start)
    year = r.signed_year()
    if year is None or not r.literal("-"):
        return None
    day = r.digits(3)
    if day is None:
        return None
    if not (1 <= day <= (366 if _leap(year) else 365)):
        return r.pos, None
    return r.pos, _days_from_civil(year, 1, 1) + day - 1


def _date_element(text: str) -> tuple[int, int | None, int | None] | None:
    """(end, days, year) of the date-element form that reads furthest (calendar first on a tie)."""
    best: _Element | None = None
    for form in (_calendar, _week_date, _ordinal):
        got = form(text, 0)
        if got is not None and (best is None or got[0] > best[0]):
            best = got
    if best is None:
        return None
    year = _Reader(text).signed_year()
    return best[0], best[1], year


def _time_element(r: _Reader) -> float | None:
    """Seconds into the day of ``HH[:mm[:ss]]`` with a fraction of its last field; None if invalid."""
    hour = r.digits(2)
    if hour is None:
        return None
    minute = second = 0
    frac = 0.0
    unit = 3600
    mark = r.pos
    if r.literal(":") and (got := r.digits(2)) is not None:
        minute, unit, mark = got, 60, r.pos
        if r.literal(":") and (got := r.digits(2)) is not None:
            second, unit = got, 1
        else:
            r.pos = mark
    else:
        r.pos = mark
    frac = r.fraction()
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour * 3600 + minute * 60 + second + frac * unit


def _offset(r: _Reader) -> int | None:
    """Seconds east of UTC of an offset at the reader (0 when none); None when malformed."""
    if r.literal("Z"):
        return 0
    sign = r.peek()
    if sign not in ("+", "-"):
        return 0
    r.pos += 1
    hours = r.digits(2, 2)
    if hours is None or hours > 23:
        return None
    minutes = 0
    mark = r.pos
    r.literal(":")
    got = r.digits(2, 2)
    if got is None:
        r.pos = mark
    elif got > 59:
        return None
    else:
        minutes = got
    seconds = hours * 3600 + minutes * 60
    return -seconds if sign == "-" else seconds


def parse_aws_date(text: str) -> float | None:
    """Epoch seconds of a date value IAM accepts, or None when IAM would refuse it."""
    if text.isascii() and text.isdigit():
        value = int(text)
        return float(value) if value <= MAX_EPOCH else None
    if not text.isascii():
        return None
    r = _Reader(text)
    days: int | None = 0
    if r.peek().upper() != "T":
        element = _date_element(text)
        if element is None:
            return None
        r.pos, days, year = element
        if days is None or year is None or not (MIN_YEAR <= year <= MAX_YEAR):
            return None
        if r.pos == len(text):
            return float(days * 86400)
    if not r.literal("T"):
        return None
    seconds = 0.0
    if r.peek().isdigit():
        got = _time_element(r)
        if got is None:
            return None
        seconds = got
    offset = _offset(r)
    if offset is None or r.pos != len(text):
        return None
    assert days is not None
    return days * 86400 + seconds - offset
