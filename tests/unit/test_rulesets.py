"""Loading rulesets: exact decimals, errors naming line, key and expectation, the live set."""

from __future__ import annotations

import hashlib
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from projections.rulesets import LoadedRuleset, RulesetError, RulesetSet, load_ruleset
from services.project.rulesets import (
    default_rulesets_dir,
    load_live_rulesets,
    load_ruleset_dir,
    read_ruleset,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "rulesets" / "seed-table3.toml"
SHARED = ROOT.parent / "shared" / "examples" / "rulesets"
SEED_TEXT = SEED.read_text(encoding="utf-8")


def line_no(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def refused(text: str) -> RulesetError:
    with pytest.raises(RulesetError) as info:
        load_ruleset(text, name="rulesets/x.toml")
    return info.value


# --- the seed files -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        SEED,
        *sorted((ROOT / "rulesets" / "examples").glob("*.toml")),
        *sorted(SHARED.glob("*.toml")),
    ],
    ids=lambda p: p.name,
)
def test_seed_files_load(path: Path):
    loaded = read_ruleset(path)
    assert isinstance(loaded, LoadedRuleset)
    assert loaded.path == str(path)
    assert loaded.hash == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.text == path.read_text(encoding="utf-8")


def test_seed_table3_values():
    r = read_ruleset(SEED).ruleset
    assert r.id == "seed-table3" and r.effective_from == "2026-01" and r.timezone == "Asia/Shanghai"
    assert r.definitions.closed_when == "signed"
    tiers = r.incentive.tiered.tiers
    assert [(t.from_, t.rate, t.bonus) for t in tiers] == [
        (D("0.80"), D("0.015"), D(0)),
        (D("1.00"), D("0.02"), D("1000")),
        (D("1.20"), D("0.03"), D("3000")),
    ]
    assert r.incentive.team_awards[0].from_ == D("1.10")
    assert r.incentive.rank_awards[0].prizes == [D(5000), D(3000), D(1000)]
    assert r.incentive.clawback is True


def test_float_and_string_numbers_give_equal_decimals():
    as_float = SEED_TEXT.replace('rate = "0.015"', "rate = 0.015").replace(
        'per_member = "500"', "per_member = 500"
    )
    a = load_ruleset(SEED_TEXT).ruleset
    b = load_ruleset(as_float).ruleset
    assert b.incentive.tiered.tiers[0].rate == D("0.015")
    assert str(b.incentive.tiered.tiers[0].rate) == "0.015"  # exact, not 0.01499999…
    assert a == b


def test_text_and_path_sources_hash_the_same_bytes():
    assert (
        load_ruleset(SEED_TEXT).hash
        == read_ruleset(SEED).hash
        == load_ruleset(SEED.read_bytes()).hash
    )
    assert load_ruleset(SEED_TEXT).path is None
    assert read_ruleset(str(SEED)).path == str(SEED)


# --- refusals name the line, the key and what was expected ----------------------------


def test_wrong_type_names_line_key_and_expectation():
    text = SEED_TEXT.replace('{ from = "1.00", rate = "0.02"', '{ from = "1.00", rate = "abc"')
    err = refused(text)
    n = line_no(text, 'rate = "abc"')
    assert (
        str(err)
        == f'rulesets/x.toml line {n}: incentive.tiered.tiers[1].rate: expected a decimal, got "abc"'
    )
    assert (err.line, err.key) == (n, "incentive.tiered.tiers[1].rate")


def test_wrong_type_bool_in_array():
    text = SEED_TEXT.replace('prizes = ["5000", "3000", "1000"]', 'prizes = ["5000",\n  true]')
    err = refused(text)
    assert err.key == "incentive.rank_awards[0].prizes[1]"
    assert err.line == line_no(text, "  true]")
    assert "expected a decimal, got true" in str(err)


def test_misspelt_key():
    text = SEED_TEXT.replace('per_member = "500"', 'per_membr = "500"')
    err = refused(text)
    assert err.line == line_no(text, "per_membr")
    assert err.key == "incentive.team_awards[0].per_membr"
    assert "unknown key" in err.reason and "per_member" in err.reason


def test_misspelt_key_in_inline_table():
    text = SEED_TEXT.replace(
        '{ from = "1.20", rate = "0.03", bonus', '{ from = "1.20", rate = "0.03", bonsu'
    )
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, "bonsu"), "incentive.tiered.tiers[2].bonsu")
    assert "did you mean `bonus`" in err.reason


def test_misspelt_table():
    text = SEED_TEXT.replace("[incentive.tiered]", "[incentive.tierd]")
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, "[incentive.tierd]"), "incentive.tierd")


def test_descending_tiers():
    text = SEED_TEXT.replace('{ from = "1.20"', '{ from = "0.90"')
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, 'from = "0.90"'), "incentive.tiered.tiers[2].from")
    assert "ascending" in err.reason


def test_descending_brackets():
    text = (
        SEED_TEXT
        + '\n[incentive.brackets]\nbrackets = [\n  { from = "100" , rate = "0.1" },\n  { from = "50", rate = "0.2" },\n]\n'
    )
    err = refused(text)
    assert (err.line, err.key) == (
        line_no(text, 'from = "50"'),
        "incentive.brackets.brackets[1].from",
    )


def test_unknown_timezone():
    text = SEED_TEXT.replace('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shangai"')
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, "timezone"), "timezone")
    assert '"Asia/Shangai"' in str(err)


def test_toml_syntax_error():
    text = SEED_TEXT.replace('red_below = "0.80"', 'red_below = = "0.80"')
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, "red_below"), "definitions.red_below")
    assert "invalid TOML" in str(err)
    assert str(err).startswith(f"rulesets/x.toml line {err.line}: definitions.red_below: ")


def test_missing_required_key():
    text = SEED_TEXT + "\n[incentive.mentor]\nbonus = 1000\n"
    err = refused(text)
    assert (err.line, err.key) == (
        line_no(text, "[incentive.mentor]"),
        "incentive.mentor.within_months",
    )
    assert "missing" in err.reason and "whole number" in err.reason


def test_bad_enum_month_and_dict_value():
    err = refused(SEED_TEXT.replace('mode = "whole"', 'mode = "all"'))
    assert (
        err.key == "incentive.tiered.mode" and '"marginal"' in err.reason and '"all"' in err.reason
    )
    err = refused(SEED_TEXT.replace('effective_from = "2026-01"', 'effective_from = "2026-1"'))
    assert (err.line, err.key) == (
        line_no(SEED_TEXT, "effective_from"),
        "effective_from",
    ) and "month" in err.reason
    text = SEED_TEXT + '\n[incentive.product_rates]\nsolution = "0.02"\nhardware = "lots"\n'
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, "hardware"), "incentive.product_rates.hardware")


def test_second_array_of_tables_entry_gets_its_own_line():
    text = (
        SEED_TEXT
        + '\n[[incentive.team_awards]]\nscope = "region"\nfrom = "1.20"\nper_member = "x"\n'
    )
    err = refused(text)
    assert (err.line, err.key) == (
        line_no(text, 'per_member = "x"'),
        "incentive.team_awards[1].per_member",
    )


def test_team_awards_scope_region_or_team():
    text = (
        SEED_TEXT
        + '\n[[incentive.team_awards]]\nscope = "team"\nfrom = "1.00"\nper_member = "300"\n'
    )
    awards = load_ruleset(text, name="rulesets/x.toml").ruleset.incentive.team_awards
    assert [(a.scope, a.from_, a.per_member) for a in awards] == [
        ("region", D("1.10"), D("500")),
        ("team", D("1.00"), D("300")),
    ]
    err = refused(SEED_TEXT.replace('scope = "region"', 'scope = "division"'))
    assert err.key == "incentive.team_awards[0].scope"
    assert 'expected one of "region", "team"' in str(err)


def test_non_finite_decimal_refused():
    text = SEED_TEXT.replace('per_member = "500"', 'per_member = "NaN"')
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, "NaN"), "incentive.team_awards[0].per_member")


def test_numbers_as_strings_for_whole_numbers():
    text = SEED_TEXT + '\n[incentive.mentor]\nbonus = "2000"\nwithin_months = "3"\n'
    assert load_ruleset(text).ruleset.incentive.mentor.within_months == 3


def test_unreadable_file(tmp_path):
    with pytest.raises(RulesetError, match="cannot read"):
        read_ruleset(tmp_path / "nope.toml")


# --- the set --------------------------------------------------------------------------


def variant(rid: str, effective_from: str, rate: str = "0.02") -> LoadedRuleset:
    text = (
        SEED_TEXT.replace('id = "seed-table3"', f'id = "{rid}"')
        .replace('effective_from = "2026-01"', f'effective_from = "{effective_from}"')
        .replace('rate = "0.02"', f'rate = "{rate}"')
    )
    return load_ruleset(text)


def test_plan_for_is_effective_dated():
    a, b, c = variant("a", "2026-03"), variant("b", "2026-08"), variant("c", "2026-08")
    s = RulesetSet([b, a, c])
    assert s.newest.id == "c"  # ties by id
    assert s.plan_for("2026-01").id == "a"  # before the earliest: the earliest
    assert s.plan_for("2026-03").id == "a"
    assert s.plan_for("2026-07").id == "a"
    assert s.plan_for("2026-08").id == "c"
    assert s.plan_for("2027-01").id == "c"
    assert s.plan_for("2026-Q3").id == "c"  # judged by its last month
    assert s.plan_for("2026-Q2").id == "a"
    assert s.definitions == c.ruleset.definitions
    assert str(s.timezone) == "Asia/Shanghai"


def test_single_and_fingerprint():
    a, b = variant("a", "2026-03"), variant("b", "2026-08")
    s = RulesetSet.single(a)
    assert s.plan_for("2030-01") is a and s.newest is a
    assert RulesetSet([a, b]).fingerprint == RulesetSet([b, a]).fingerprint
    assert (
        RulesetSet([a, b]).fingerprint
        != RulesetSet([a, variant("b", "2026-08", "0.025")]).fingerprint
    )
    assert RulesetSet([a]).fingerprint.startswith("sha256:")


def test_load_ruleset_dir(tmp_path):
    s = load_ruleset_dir(default_rulesets_dir())
    assert [r.id for r in s] == ["seed-table3"]  # rulesets/examples/ is not part of the live set
    assert default_rulesets_dir() == ROOT / "rulesets"

    with pytest.raises(RulesetError, match="no \\*.toml"):
        load_ruleset_dir(tmp_path)
    with pytest.raises(RulesetError, match="not a folder"):
        load_ruleset_dir(tmp_path / "missing")

    shutil.copy(SEED, tmp_path / "one.toml")
    shutil.copy(SEED, tmp_path / "two.toml")
    with pytest.raises(RulesetError, match='two rulesets have the id "seed-table3"') as info:
        load_ruleset_dir(tmp_path)
    assert "one.toml" in str(info.value) and "two.toml" in str(info.value)

    (tmp_path / "two.toml").write_text(
        SEED_TEXT.replace('"seed-table3"', '"later"').replace('"2026-01"', '"2026-09"')
    )
    s = load_ruleset_dir(tmp_path)
    assert s.plan_for("2026-08").id == "seed-table3" and s.plan_for("2026-09").id == "later"

    (tmp_path / "bad.toml").write_text("id = ")
    with pytest.raises(RulesetError, match="bad.toml line 1"):
        load_ruleset_dir(tmp_path)


def test_live_rulesets_fall_back_to_repository_default(tmp_path):
    assert [r.id for r in load_live_rulesets(tmp_path)] == ["seed-table3"]
    (tmp_path / "rulesets").mkdir()
    (tmp_path / "rulesets" / "mine.toml").write_text(SEED_TEXT.replace('"seed-table3"', '"mine"'))
    assert [r.id for r in load_live_rulesets(tmp_path)] == ["mine"]


def test_empty_set_refused():
    with pytest.raises(RulesetError):
        RulesetSet([])


def test_line_scanner_survives_comments_strings_and_dotted_keys():
    text = """# a comment with [brackets] and { braces } and "quotes"
id = "tricky # not a comment ]"
effective_from = '2026-01'  # literal string
incentive.period = "month"
incentive.tiered.mode = "whole"
incentive.tiered.tiers = [  # ] in a comment
  { from = "0.80", rate = "0.015" },  # {

  { from = "1.00", rate = "0.02" },
  { from = "1.20", rate = "zz" },
]

[[incentive.rank_awards]]
prizes = ["5000"]

[[incentive.rank_awards]]
prizes = ["3000",
  "x"]
"""
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, 'rate = "zz"'), "incentive.tiered.tiers[2].rate")
    fixed = text.replace('"zz"', '"0.03"')
    err = refused(fixed)
    assert (err.line, err.key) == (line_no(fixed, '"x"]'), "incentive.rank_awards[1].prizes[1]")
    ok = load_ruleset(fixed.replace('"x"]', '"1000"]'))
    assert ok.ruleset.id == "tricky # not a comment ]"
    assert [a.prizes for a in ok.ruleset.incentive.rank_awards] == [[D(5000)], [D(3000), D(1000)]]


def test_syntax_error_inside_a_multiline_array_names_its_key():
    text = SEED_TEXT.replace(
        '{ from = "1.00", rate = "0.02", bonus = "1000" },', "{ from = 1.00, rate = }"
    )
    err = refused(text)
    assert (err.line, err.key) == (line_no(text, "rate = }"), "incentive.tiered.tiers")


def test_ruleset_text_is_never_taken_for_a_file_name(tmp_path):
    """A `ruleset.applied` event's TOML goes through load_ruleset inside the fold: text
    that looks like a path must be parsed as TOML, never opened."""
    target = tmp_path / "secret.toml"
    target.write_text(SEED_TEXT, encoding="utf-8")
    with pytest.raises(RulesetError):
        load_ruleset(str(target))
