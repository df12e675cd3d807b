"""Customer Personality Analysis rows: demographics, spend, campaign history and Response.

Spending follows income and household, campaign acceptance follows spending, and Response
follows campaign history, spending, recency, teenagers at home and tenure, so a response model is
learnable. The real file's dirt is kept: birth years before 1900, missing incomes, an income of
666,666, and the marital statuses Alone, Absurd and YOLO.
"""

import numpy as np
import pyarrow as pa

REAL_ROWS = 2_240
MIN_ROWS = 300
RESPONSE_RATE = 0.149
EDUCATION = {"Graduation": 1127, "PhD": 486, "Master": 370, "2n Cycle": 203, "Basic": 54}
EDUCATION_INCOME = {"Graduation": 1.0, "PhD": 1.1, "Master": 1.02, "2n Cycle": 0.93, "Basic": 0.4}
MARITAL = {"Married": 864, "Together": 580, "Single": 480, "Divorced": 232, "Widow": 77}
ODD_MARITAL = ("Alone", "Absurd", "YOLO")  # 3, 2 and 2 rows in the real file
FIRST_JOINED, LAST_JOINED = np.datetime64("2012-07-30"), np.datetime64("2014-06-29")
# share of total spend per product family, as in the real file
SPEND_SHARE = {"MntWines": 0.50, "MntFruits": 0.043, "MntMeatProducts": 0.275,
               "MntFishProducts": 0.062, "MntSweetProducts": 0.045, "MntGoldProds": 0.075}
SPEND_MAX = {"MntWines": 1_493, "MntFruits": 199, "MntMeatProducts": 1_725, "MntFishProducts": 259,
             "MntSweetProducts": 263, "MntGoldProds": 362}
CAMPAIGN_RATE = {"AcceptedCmp3": 0.073, "AcceptedCmp4": 0.075, "AcceptedCmp5": 0.073,
                 "AcceptedCmp1": 0.064, "AcceptedCmp2": 0.013}
# how much each campaign's acceptance follows spending (Cmp3 barely does in the real file)
CAMPAIGN_SPEND_WEIGHT = {"AcceptedCmp3": 0.2, "AcceptedCmp4": 1.0, "AcceptedCmp5": 2.0,
                         "AcceptedCmp1": 1.6, "AcceptedCmp2": 1.0}


def profile_count(scale: float) -> int:
    return max(MIN_ROWS, int(round(REAL_ROWS * scale)))


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _intercept_for_rate(score: np.ndarray, rate: float) -> float:
    """Intercept making the mean of logistic(intercept + score) equal `rate` (bisection)."""
    low, high = -30.0, 30.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if _logistic(middle + score).mean() < rate else (low, middle)
    return (low + high) / 2


def _standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-12)


def _choice(names: dict[str, int], n: int, rng: np.random.Generator) -> np.ndarray:
    weight = np.array(list(names.values()), dtype=float)
    return np.array(list(names), dtype=object)[rng.choice(len(names), n, p=weight / weight.sum())]


def _odd_rows(n: int, per_real_file: int, rng: np.random.Generator, taken: np.ndarray) -> np.ndarray:
    """Row indices for a quirk seen `per_real_file` times in 2,240 rows, at least one, not yet taken."""
    count = max(1, round(per_real_file * n / REAL_ROWS))
    rows = rng.permutation(np.flatnonzero(~taken))[:count]
    taken[rows] = True
    return rows


def _day_month_year(days: np.ndarray) -> np.ndarray:
    """Dates as dd-mm-yyyy strings, the real file's format."""
    iso = np.datetime_as_string(days, unit="D").astype("S10")
    chars = np.frombuffer(iso.tobytes(), dtype=np.uint8).reshape(len(days), 10)
    reordered = np.ascontiguousarray(chars[:, [8, 9, 7, 5, 6, 4, 0, 1, 2, 3]])  # 4 and 7 are dashes
    return reordered.view("S10").ravel().astype(str).astype(object)


def customer_profiles(scale: float, rng: np.random.Generator) -> pa.Table:
    """The 29 columns of marketing_campaign.csv, typed as pandas reads the real TSV."""
    n = profile_count(scale)
    birth = np.clip(np.round(rng.normal(1969, 11.5, n)), 1940, 1996).astype(np.int64)
    education = _choice(EDUCATION, n, rng)
    marital = _choice(MARITAL, n, rng)
    age_factor = np.clip(1 - ((birth - 1965) / 40.0) ** 2, 0.5, 1.0)
    income = 56_000 * np.vectorize(EDUCATION_INCOME.get, otypes=[float])(education) * age_factor \
        * rng.lognormal(0.0, 0.42, n)
    income = np.round(np.clip(income, 1_730, 160_000))
    standard_income = _standard(np.log(income))
    kids = np.minimum(rng.poisson(np.exp(-0.9 - 0.9 * standard_income)), 2)
    teens = np.minimum(rng.poisson(np.exp(-0.75 + 0.04 * (1975 - birth))), 2)
    joined = FIRST_JOINED + rng.integers(0, int((LAST_JOINED - FIRST_JOINED).astype(int)) + 1, n)
    tenure = _standard((LAST_JOINED - joined).astype(np.int64).astype(float))
    recency = rng.integers(0, 100, n)

    spend = np.exp(5.9 + 1.25 * standard_income - 0.55 * kids - 0.25 * teens + 0.25 * tenure
                   + rng.normal(0, 0.6, n))
    spend = np.clip(spend, 5, 2_600)
    amounts = {name: np.minimum(np.round(spend * share * rng.lognormal(0, 0.5, n)),
                                SPEND_MAX[name]).astype(np.int64)
               for name, share in SPEND_SHARE.items()}
    standard_spend = _standard(np.log(spend))
    purchases = 3 + spend ** 0.45
    columns = {
        "ID": np.sort(rng.choice(max(11_192, 5 * n), n, replace=False)),
        "Year_Birth": birth,
        "Education": education,
        "Marital_Status": marital,
        "Income": income.astype(np.float64),
        "Kidhome": kids,
        "Teenhome": teens,
        "Dt_Customer": _day_month_year(joined),
        "Recency": recency,
        **amounts,
        "NumDealsPurchases": np.minimum(rng.poisson(1 + 1.2 * (kids + teens)), 15),
        "NumWebPurchases": np.minimum(rng.poisson(purchases * 0.28), 27),
        "NumCatalogPurchases": np.minimum(rng.poisson(np.maximum(purchases * 0.3 - 1.5, 0.1)), 28),
        "NumStorePurchases": np.minimum(rng.poisson(purchases * 0.42), 13),
        "NumWebVisitsMonth": np.minimum(rng.poisson(np.exp(1.75 - 0.3 * standard_income)), 20),
    }
    for campaign, rate in CAMPAIGN_RATE.items():
        score = CAMPAIGN_SPEND_WEIGHT[campaign] * standard_spend
        columns[campaign] = (rng.random(n) < _logistic(_intercept_for_rate(score, rate) + score)
                             ).astype(np.int64)
    columns["Complain"] = (rng.random(n) < 0.0094).astype(np.int64)
    columns["Z_CostContact"] = np.full(n, 3, dtype=np.int64)
    columns["Z_Revenue"] = np.full(n, 11, dtype=np.int64)
    accepted = sum(columns[campaign] for campaign in CAMPAIGN_RATE)
    score = (1.1 * accepted + 0.6 * standard_spend - 0.03 * (recency - 49) - 0.6 * teens
             + 0.45 * tenure + 0.5 * np.isin(marital, ["Single", "Divorced", "Widow"]))
    columns["Response"] = (rng.random(n) < _logistic(_intercept_for_rate(score, RESPONSE_RATE) + score)
                           ).astype(np.int64)
    return _with_dirt(columns, n, rng)


def _with_dirt(columns: dict[str, np.ndarray], n: int, rng: np.random.Generator) -> pa.Table:
    taken = np.zeros(n, bool)
    columns["Year_Birth"][_odd_rows(n, 3, rng, taken)] = rng.integers(1893, 1900)
    income_missing = np.zeros(n, bool)
    income_missing[_odd_rows(n, 24, rng, taken)] = True
    columns["Income"][_odd_rows(n, 1, rng, taken)] = 666_666.0
    for status, count in zip(ODD_MARITAL, (3, 2, 2)):
        columns["Marital_Status"][_odd_rows(n, count, rng, taken)] = status
    table = {name: pa.array(values, pa.string() if values.dtype.kind in "OU" else None)
             for name, values in columns.items()}
    table["Income"] = pa.array(columns["Income"], pa.float64(), mask=income_missing)
    return pa.table(table)
