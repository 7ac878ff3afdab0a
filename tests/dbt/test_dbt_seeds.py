"""Reference seeds are complete and well-formed (fast: no dbt run)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipelines.core.settings import DBT_PROJECT_DIR

SEEDS = DBT_PROJECT_DIR / "seeds"


def _seed(name: str) -> pd.DataFrame:
    return pd.read_csv(SEEDS / f"{name}.csv", keep_default_na=False, na_values=[""])


def test_rfm_map_covers_every_score_pair_once():
    seed = _seed("rfm_segment_map")
    pairs = set(zip(seed["r_score"], seed["f_score"], strict=True))
    assert pairs == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert len(seed) == 25
    assert set(seed["rfm_segment"]) == {
        "champions", "loyal", "potential loyalist", "new", "promising", "need attention",
        "about to sleep", "at risk", "can't lose", "hibernating", "lost",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("seed", "column"),
    [
        ("channel_source_aliases", "source_pattern"),
        ("channel_grouping_rules", "source_pattern"),
        ("channel_grouping_rules", "medium_pattern"),
        ("channel_grouping_rules", "campaign_pattern"),
        ("government_domain_patterns", "domain_pattern"),
        ("page_topic_rules", "path_pattern"),
        ("ad_platform_channels", "campaign_pattern"),
    ],
)
def test_regex_columns_compile_without_backslashes(seed, column):
    # backslashes mean different things in RE2 (DuckDB) and Java (Spark) literals: use [.]
    for pattern in _seed(seed)[column].dropna():
        assert "\\" not in pattern, pattern
        re.compile(pattern)


def test_source_aliases_fold_spelling_variants():
    aliases = _seed("channel_source_aliases").sort_values("rule_order")

    def fold(source: str) -> str:
        for row in aliases.itertuples():
            if re.search(row.source_pattern, source):
                return row.source if isinstance(row.source, str) else source
        return source

    for variant in ["facebook", "fb", "ig", "instagram", "meta", "an", "l.facebook.com"]:
        assert fold(variant) == "facebook", variant
    for variant in ["google", "google.com", "google.co.uk", "adwords"]:
        assert fold(variant) == "google", variant
    assert fold("t.co") == "twitter"
    assert fold("newsletter") == "newsletter"  # e-mail tools keep their name


def test_fx_rates_cover_every_month_and_currency():
    fx = _seed("fx_rates")
    months = pd.date_range("2009-01-01", "2027-12-01", freq="MS").strftime("%Y-%m-%d")
    for currency in ["USD", "EUR", "GBP", "INR", "JPY", "CAD", "AUD"]:
        rows = fx[fx["currency"] == currency]
        assert list(rows["rate_date"]) == list(months), currency
        assert (rows["rate_to_usd"] > 0).all()
    assert (fx.loc[fx["currency"] == "USD", "rate_to_usd"] == 1.0).all()
    assert not fx.duplicated(["rate_date", "currency"]).any()


def test_lookup_seeds_have_unique_keys():
    assert not _seed("industry_taxonomy")["industry_variant"].duplicated().any()
    assert not _seed("country_aliases")["country_alias"].duplicated().any()
    assert not _seed("free_mail_domains")["domain"].duplicated().any()
    assert len(_seed("free_mail_domains")) >= 300
    regions = _seed("country_regions")
    assert set(regions["region"]) == {"AMER", "EMEA", "APAC"}
    assert set(_seed("country_aliases")["country_code"]) <= set(regions["country_code"])
    taxonomy = dict(
        zip(*_seed("industry_taxonomy")[["industry_variant", "industry"]].T.values, strict=True)
    )
    assert taxonomy["technolgy"] == taxonomy["tech"] == taxonomy["it"] == "Technology"
    assert taxonomy["medical"] == "Healthcare"
