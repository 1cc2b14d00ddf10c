"""Price normalization: cases Y4, Y5, Y6, Y10 and D1 on real data, no database."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from price_frames import COLUMNS, frame_of, no_calendar, utc, yahoo_frame

from kabuflow.errors import (
    CalendarRangeError,
    InvalidRequestError,
    MissingColumnError,
    PriceDataError,
)
from kabuflow.normalize import BAR_COLUMNS, OHLC_TOLERANCE, normalize_bars

TOKYO = "Asia/Tokyo"
AFTER_DATA = utc(2023, 1, 1)


def normalize(
    frame, interval="1d", now=AFTER_DATA, session_close=no_calendar, tz=TOKYO
):
    return normalize_bars(
        frame,
        symbol="7203.T",
        interval=interval,
        exchange_tz=tz,
        now=now,
        session_close=session_close,
    )


def tokyo_close(day: dt.date) -> dt.datetime:
    """The TSE's close at 15:00 JST (06:00 UTC), every weekday."""
    return dt.datetime.combine(day, dt.time(6, 0), dt.UTC)


def by_bar(bars) -> dict:
    return {record[0]: record for record in bars.records()}


def row_on(frame: pd.DataFrame, day: dt.date) -> pd.Series:
    [position] = np.flatnonzero(frame.index.date == day)
    return frame.iloc[position]


# --- columns and index (Y4) -------------------------------------------------------


@pytest.mark.parametrize("column", ["Adj Close", "Open", "Volume", "Stock Splits"])
def test_a_missing_expected_column_is_an_error_never_a_null(column):
    frame = yahoo_frame("7203.T").drop(columns=[column])

    with pytest.raises(MissingColumnError) as caught:
        normalize(frame)

    assert caught.value.columns == [column]
    assert "7203.T" in str(caught.value)


def test_capital_gains_is_optional_and_read_when_present():
    frame = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100, 0.0, 0.0)])
    frame["Capital Gains"] = [0.25]

    bars = normalize(frame)

    assert bars.actions.to_dict("records") == [
        {"date": dt.date(2022, 9, 15), "kind": "capital_gain", "value": 0.25}
    ]


def test_a_naive_index_is_refused():
    frame = yahoo_frame("7203.T")
    frame.index = frame.index.tz_localize(None)

    with pytest.raises(PriceDataError, match="tz-aware"):
        normalize(frame)


def test_a_naive_now_is_refused():
    with pytest.raises(InvalidRequestError):
        normalize(yahoo_frame("7203.T"), now=dt.datetime(2023, 1, 1))


def test_an_empty_frame_gives_no_bars():
    bars = normalize(pd.DataFrame(columns=COLUMNS))

    assert list(bars.bars.columns) == list(BAR_COLUMNS)
    assert bars.bars.empty and bars.actions.empty and bars.issues == []


def test_60m_is_stored_as_1h():
    frame = frame_of([("2022-09-15 09:00", 10.0, 11.0, 9.0, 10.5, 10.5, 100)])

    assert normalize(frame, interval="60m").interval == "1h"


# --- real data round trip -----------------------------------------------------------


def test_every_real_toyota_bar_is_kept_with_its_values():
    frame = yahoo_frame("7203.T")

    bars = normalize(frame)

    assert bars.rejected == 0 and bars.issues == []
    assert len(bars.bars) == len(frame)
    assert bars.bars["bar"].tolist() == [ts.date() for ts in frame.index]
    for column, name in [
        ("Open", "open"),
        ("Close", "close"),
        ("Adj Close", "adj_close"),
    ]:
        assert np.array_equal(bars.bars[name].to_numpy(), frame[column].to_numpy())
    assert bars.bars["volume"].dtype == np.int64
    assert bars.bars["is_final"].all()


def test_toyota_actions_are_read_with_their_dates():
    bars = normalize(yahoo_frame("7203.T"))

    actions = {
        (a["date"], a["kind"]): a["value"] for a in bars.actions.to_dict("records")
    }
    assert actions[(dt.date(2021, 9, 29), "split")] == 5.0
    assert actions[(dt.date(2021, 9, 29), "dividend")] == 24.0
    assert actions[(dt.date(2022, 3, 30), "dividend")] == 28.0
    assert len(actions) == len(bars.actions)


def test_a_rate_near_0_0093_keeps_every_digit_and_zero_volume():
    frame = yahoo_frame("JPYUSD=X")

    bars = normalize(frame, tz="Europe/London")

    row = row_on(frame, dt.date(2020, 6, 1))
    stored = by_bar(bars)[dt.date(2020, 6, 1)]
    assert stored[4] == row["Close"] and stored[5] == row["Adj Close"]
    assert (bars.bars["volume"] == 0).all()


# --- duplicates (Y5, D1) ------------------------------------------------------------


def test_duplicate_bars_collapse_to_the_last_one_sent():
    frame = frame_of(
        [
            ("2022-09-14", 10.0, 11.0, 9.0, 10.0, 10.0, 100),
            ("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 200),
            ("2022-09-15", 10.0, 12.0, 9.0, 11.5, 11.5, 300),
        ]
    )

    bars = normalize(frame)

    assert len(bars.bars) == 2
    assert by_bar(bars)[dt.date(2022, 9, 15)][4:7] == (11.5, 11.5, 300)
    [issue] = bars.issues
    assert (issue.kind, issue.bar) == ("duplicate", dt.date(2022, 9, 15))
    assert bars.rejected == 0


def test_the_last_duplicate_wins_even_when_it_is_unusable():
    frame = frame_of(
        [
            ("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 200),
            ("2022-09-15", np.nan, np.nan, np.nan, np.nan, np.nan, 300),
        ]
    )

    bars = normalize(frame)

    assert bars.bars.empty
    assert [issue.kind for issue in bars.issues] == ["duplicate", "missing_price"]


def test_a_dividend_on_a_discarded_duplicate_is_kept():
    frame = frame_of(
        [
            ("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 200, 24.0, 0.0),
            ("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 200, 0.0, 0.0),
        ]
    )

    bars = normalize(frame)

    assert bars.actions.to_dict("records") == [
        {"date": dt.date(2022, 9, 15), "kind": "dividend", "value": 24.0}
    ]


def test_intraday_duplicates_are_the_same_instant_in_any_zone():
    frame = frame_of(
        [
            (pd.Timestamp("2022-09-15 09:00", tz=TOKYO), 1.0, 2.0, 1.0, 2.0, 2.0, 5),
            (pd.Timestamp("2022-09-15 00:00", tz="UTC"), 1.0, 3.0, 1.0, 3.0, 3.0, 6),
        ]
    )

    bars = normalize(frame, interval="5m")

    assert bars.records() == [
        (utc(2022, 9, 15, 0, 0), 1.0, 3.0, 1.0, 3.0, 3.0, 6, True)
    ]


# --- missing values (Y5) ------------------------------------------------------------


def test_a_row_of_nan_prices_with_a_volume_is_reported_not_stored():
    frame = yahoo_frame("7203.T")
    day = dt.date(2022, 9, 15)
    frame.loc[frame.index.date == day, ["Open", "High", "Low", "Close"]] = np.nan

    bars = normalize(frame)

    assert dt.date(2022, 9, 15) not in by_bar(bars)
    [issue] = bars.issues
    assert (issue.kind, issue.bar, bars.rejected) == ("missing_price", day, 1)
    assert f"volume={float(row_on(frame, day)['Volume'])!r}" in issue.detail
    assert not bars.bars[["open", "high", "low", "close"]].isna().any().any()
    assert not (bars.bars[["open", "high", "low", "close"]] == 0).any().any()


@pytest.mark.parametrize("column", ["Open", "High", "Low"])
def test_a_bar_missing_one_price_is_dropped_and_reported(column):
    frame = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100)])
    frame[column] = np.nan

    bars = normalize(frame)

    assert bars.bars.empty
    assert [issue.kind for issue in bars.issues] == ["missing_price"]


def test_a_row_only_carrying_an_action_is_an_action_not_an_issue():
    # The shape of 3919.T on 2022-08-30 in the real parquet: NaN prices and volume.
    frame = frame_of(
        [
            ("2022-08-30", np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 11.0, 0.0),
            ("2022-09-16", 2797.0, 2797.0, 2795.0, 2796.0, 2796.0, 9900, 0.0, 0.0),
        ]
    )

    bars = normalize(frame)

    assert [record[0] for record in bars.records()] == [dt.date(2022, 9, 16)]
    assert bars.issues == [] and bars.rejected == 0
    assert bars.actions["value"].tolist() == [11.0]


def test_missing_volume_is_dropped_not_stored_as_zero():
    frame = frame_of(
        [
            ("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, np.nan),
            ("2022-09-16", 10.0, 11.0, 9.0, 10.5, 10.5, 0.0),
        ]
    )

    bars = normalize(frame)

    assert [record[0] for record in bars.records()] == [dt.date(2022, 9, 16)]
    assert [issue.kind for issue in bars.issues] == ["missing_volume"]


def test_a_currency_pair_without_volume_is_stored_with_zero():
    """Y10: FX is exempt from volume checks; a currency's volume measures nothing."""
    rate = 0.009393905289471150
    frame = frame_of(
        [("2020-05-05", rate, rate, rate, rate, rate, np.nan)], zone="Europe/London"
    )

    bars = normalize_bars(
        frame,
        symbol="JPYUSD=X",
        interval="1d",
        exchange_tz="Europe/London",
        now=AFTER_DATA,
        session_close=no_calendar,
    )

    assert bars.records() == [(dt.date(2020, 5, 5), *[rate] * 5, 0, True)]
    assert (bars.rejected, bars.issues) == (0, [])


def normalize_rate(rows):
    return normalize_bars(
        frame_of(rows, zone="Europe/London"),
        symbol="JPYUSD=X",
        interval="1d",
        exchange_tz="Europe/London",
        now=AFTER_DATA,
        session_close=no_calendar,
    )


def test_a_currency_close_outside_its_range_is_stored_and_reported():
    # JPYUSD=X on 2016-02-09 as Yahoo published it: the close sits below the low.
    rate = ("2016-02-09", 0.008647, 0.008751, 0.008647, 0.008645, 0.008645, 0.0)

    bars = normalize_rate([rate])

    assert bars.records() == [(dt.date(2016, 2, 9), *rate[1:6], 0, True)]
    [issue] = bars.issues
    assert (issue.kind, bars.rejected) == ("quote_outside_range", 0)
    assert "close=0.008645" in issue.detail


def test_a_currency_bar_with_low_above_high_is_still_refused():
    bars = normalize_rate([("2016-02-09", 0.0086, 0.0085, 0.0087, 0.0086, 0.0086, 0)])

    assert bars.bars.empty and bars.rejected == 1
    assert [issue.kind for issue in bars.issues] == ["ohlc_violation"]


@pytest.mark.parametrize("volume", [-100.0, 10.5, 2.0**63, np.inf])
def test_an_impossible_volume_is_dropped_and_reported(volume):
    frame = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, volume)])

    bars = normalize(frame)

    assert bars.bars.empty and bars.rejected == 1
    assert [issue.kind for issue in bars.issues] == ["invalid_volume"]


def test_zero_volume_is_stored_as_zero():
    frame = frame_of([("2022-09-15", 10.0, 10.0, 10.0, 10.0, 10.0, 0)])

    assert normalize(frame).records()[0][6] == 0


def test_integer_volumes_stay_exact_beyond_float_precision():
    frame = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 2**53 + 1)])

    assert normalize(frame).records()[0][6] == 2**53 + 1


def test_a_missing_adjusted_close_alone_is_null_and_reported():
    frame = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, np.nan, 100)])

    bars = normalize(frame)

    assert bars.records()[0][5] is None
    assert [issue.kind for issue in bars.issues] == ["missing_adj_close"]
    assert bars.rejected == 0


# --- OHLC invariants (Y6) -----------------------------------------------------------


def test_adjustment_float_noise_is_accepted():
    # 9441.T on 2022-05-23: high is below close by 2.2e-16 of the price.
    frame = frame_of(
        [
            (
                "2022-05-23",
                2077.6792518833704,
                2080.6516113281245,
                2064.7990276227674,
                2080.651611328125,
                2080.651611328125,
                6400,
            )
        ]
    )

    bars = normalize(frame)

    assert bars.issues == [] and len(bars.bars) == 1


def test_a_real_violation_is_reported_and_not_stored():
    # 8306.T on 2022-05-17: close below low by 1.4e-4 of the price.
    frame = frame_of(
        [
            ("2022-05-16", 730.0, 740.0, 725.0, 735.0, 735.0, 100),
            ("2022-05-17", 738.0, 739.2999877929688, 717.2000122070312,
             717.0999755859375, 717.0999755859375, 64714400),
        ]
    )  # fmt: skip

    bars = normalize(frame)

    assert [record[0] for record in bars.records()] == [dt.date(2022, 5, 16)]
    [issue] = bars.issues
    assert (issue.kind, issue.bar) == ("ohlc_violation", dt.date(2022, 5, 17))
    assert "close=717.0999755859375" in issue.detail
    assert bars.rejected == 1


@pytest.mark.parametrize(
    "open_, high, low, close",
    [
        (10.0, 11.0, 10.5, 10.8),  # low above open
        (10.0, 11.0, 9.0, 11.5),  # high below close
        (10.0, 9.0, 11.0, 10.0),  # low above high
    ],
)
def test_each_invariant_is_checked(open_, high, low, close):
    frame = frame_of([("2022-09-15", open_, high, low, close, close, 100)])

    assert [issue.kind for issue in normalize(frame).issues] == ["ohlc_violation"]


def test_a_violation_just_beyond_the_tolerance_is_refused():
    low = 100.0 * (1 + 10 * OHLC_TOLERANCE)
    frame = frame_of([("2022-09-15", 100.0, 101.0, low, 100.5, 100.5, 100)])

    assert normalize(frame).rejected == 1


# --- finality (Y6) ------------------------------------------------------------------


def test_a_daily_bar_is_final_once_its_session_closed():
    frame = frame_of(
        [
            ("2022-09-14", 10.0, 11.0, 9.0, 10.5, 10.5, 100),
            ("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100),
        ]
    )
    mid_session = utc(2022, 9, 15, 3, 0)  # 12:00 JST
    after_close = utc(2022, 9, 15, 6, 0)  # 15:00 JST

    during = normalize(frame, now=mid_session, session_close=tokyo_close)
    after = normalize(frame, now=after_close, session_close=tokyo_close)

    assert during.bars["is_final"].tolist() == [True, False]
    assert after.bars["is_final"].tolist() == [True, True]


def test_without_a_calendar_today_is_not_final_and_yesterday_is():
    frame = frame_of(
        [
            ("2022-09-14", 10.0, 11.0, 9.0, 10.5, 10.5, 100),
            ("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100),
        ]
    )

    bars = normalize(frame, now=utc(2022, 9, 15, 14, 0))  # 23:00 JST

    assert bars.bars["is_final"].tolist() == [True, False]


def test_a_calendar_out_of_range_counts_as_unknown():
    def out_of_range(day):
        raise CalendarRangeError("day", f"{day} outside the calendar")

    frame = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100)])

    bars = normalize(frame, now=utc(2022, 9, 15, 14, 0), session_close=out_of_range)

    assert bars.bars["is_final"].tolist() == [False]


def test_the_calendar_is_asked_only_about_recent_days():
    asked = []

    def recording(day):
        asked.append(day)
        return tokyo_close(day)

    normalize(
        yahoo_frame("7203.T"), now=utc(2022, 9, 16, 7, 0), session_close=recording
    )

    assert asked == [dt.date(2022, 9, 15), dt.date(2022, 9, 16)]


def test_an_intraday_bar_is_final_once_it_ended_and_is_a_utc_instant():
    frame = frame_of(
        [
            ("2022-09-15 09:00", 10.0, 11.0, 9.0, 10.5, 10.5, 100),
            ("2022-09-15 09:05", 10.5, 11.0, 10.0, 10.8, 10.8, 50),
        ]
    )

    bars = normalize(frame, interval="5m", now=utc(2022, 9, 15, 0, 7))

    assert [(r[0], r[7]) for r in bars.records()] == [
        (utc(2022, 9, 15, 0, 0), True),
        (utc(2022, 9, 15, 0, 5), False),
    ]
    assert str(bars.bars["bar"].dt.tz) == "UTC"


@pytest.mark.parametrize(
    "interval, start, final_from",
    [
        ("1wk", "2022-09-12", dt.date(2022, 9, 19)),
        ("1mo", "2022-09-01", dt.date(2022, 10, 1)),
        ("3mo", "2022-07-01", dt.date(2022, 10, 1)),
        ("5d", "2022-09-12", dt.date(2022, 9, 26)),
    ],
)
def test_a_longer_bar_is_final_once_its_period_is_over(interval, start, final_from):
    frame = frame_of([(start, 10.0, 11.0, 9.0, 10.5, 10.5, 100)])
    on_the_day = dt.datetime.combine(final_from, dt.time(0), dt.UTC)
    day_before = on_the_day - dt.timedelta(days=1)

    assert normalize(frame, interval, now=day_before).records()[0][7] is False
    assert normalize(frame, interval, now=on_the_day).records()[0][7] is True


# --- actions and types --------------------------------------------------------------


def test_a_split_of_ratio_one_is_reported_not_kept():
    frame = frame_of([("2022-09-15", 10.0, 11.0, 9.0, 10.5, 10.5, 100, 0.0, 1.0)])

    bars = normalize(frame)

    assert bars.actions.empty
    assert [issue.kind for issue in bars.issues] == ["invalid_action"]


def test_records_are_plain_python_values():
    bars = normalize(yahoo_frame("TM"), tz="America/New_York")

    for record in bars.records()[:5]:
        assert type(record[0]) is dt.date
        assert all(type(value) is float for value in record[1:6])
        assert type(record[6]) is int and type(record[7]) is bool
    json.dumps([issue.as_dict() for issue in bars.issues])


def test_float_volumes_become_int64():
    frame = yahoo_frame("TM")
    assert frame["Volume"].dtype == np.float64

    bars = normalize(frame, tz="America/New_York")

    assert bars.bars["volume"].dtype == np.int64
    assert bars.bars["volume"].tolist() == [int(v) for v in frame["Volume"]]
