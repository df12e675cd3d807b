"""Seasonal calendars for the generator: map "intensity time" to calendar timestamps.

A customer process is simulated on an intensity axis where one unit is one average shop day; the
calendar's cumulative daily intensity (month weight x weekday weight x day-of-year factor) maps it
back to dates, so busy months get more invoices and closed days (Saturdays, Christmas) get none,
with no per-row loop.
"""

from dataclasses import dataclass

import numpy as np

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SeasonalCalendar:
    first_day: np.datetime64  # datetime64[D]
    end: np.datetime64  # datetime64[s], exclusive upper bound of generated timestamps
    day_weight: np.ndarray  # intensity of each day, mean 1 over the open days
    cumulative: np.ndarray  # intensity before each day, len(days) + 1
    hour_cdf: np.ndarray  # cumulative share of the day's activity at each whole hour, 25 values
    open_share: np.ndarray  # share of each day's hours before `end` (1 but on the last day)

    @property
    def total(self) -> float:
        """Length of the window on the intensity axis."""
        return float(self.cumulative[-1])

    def timestamps(self, intensity_time: np.ndarray) -> np.ndarray:
        """Calendar timestamps (datetime64[s]) of points on the intensity axis."""
        u = np.clip(intensity_time, 0.0, np.nextafter(self.total, 0.0))
        day = np.searchsorted(self.cumulative, u, side="right") - 1
        weight = self.day_weight[day]
        fraction = np.where(weight > 0, (u - self.cumulative[day]) / np.maximum(weight, 1e-12), 0.0)
        # the last day is truncated at `end`: its weight already holds only the hours before it
        fraction = fraction * self.open_share[day]
        seconds = np.interp(fraction, self.hour_cdf, np.arange(25) * 3600.0)
        return (self.first_day + day.astype("timedelta64[D]")).astype("datetime64[s]") + \
            np.minimum(seconds, SECONDS_PER_DAY - 1).astype("timedelta64[s]")


def seasonal_calendar(first_day: str, end: str, month_weight: dict[int, float],
                      weekday_weight: tuple[float, ...], hour_weight: tuple[float, ...],
                      closed: tuple[tuple[str, str], ...] = ()) -> SeasonalCalendar:
    """A calendar from `first_day` (inclusive) to `end` (exclusive timestamp).

    `weekday_weight` has 7 values from Monday; `hour_weight` 24 values from 00h; `closed` holds
    inclusive (first, last) date ranges with no activity.
    """
    start = np.datetime64(first_day, "D")
    stop = np.datetime64(end, "s")
    days = np.arange(start, stop.astype("datetime64[D]") + 1)
    months = (days.astype("datetime64[M]").astype(np.int64) % 12) + 1
    weekdays = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    weight = np.array([month_weight[m] for m in range(1, 13)])[months - 1] * \
        np.asarray(weekday_weight)[weekdays]
    for first, last in closed:
        weight[(days >= np.datetime64(first)) & (days <= np.datetime64(last))] = 0.0
    weight = weight / weight[weight > 0].mean()
    hour_cdf = np.concatenate([[0.0], np.cumsum(hour_weight) / np.sum(hour_weight)])
    open_share = np.ones(len(days))
    last_day_seconds = (stop - days[-1].astype("datetime64[s]")).astype(np.int64)
    open_share[-1] = np.interp(last_day_seconds, np.arange(25) * 3600.0, hour_cdf)
    weight = weight * open_share
    cumulative = np.concatenate([[0.0], np.cumsum(weight)])
    return SeasonalCalendar(start, stop, weight, cumulative, hour_cdf, open_share)
