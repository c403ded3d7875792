"""Runs grouped into settings over seeds: mean ± std, the per-seed values and Welch's test of the
best setting's lead, on constructed results with known answers."""

import math

import pytest

from ganforge.runs.seeds import Setting, band, group_runs, lead_test, mean_std, seed_table, setting_key


def config(seed, lr=2e-4, device="cpu"):
    return {"train": {"seed": seed, "lr_d": lr, "device": device}, "data": {"name": "mnist", "path": "x"}}


def test_runs_that_differ_only_in_seed_and_device_are_one_setting():
    assert setting_key(config(0)) == setting_key(config(7, device="cuda"))
    assert setting_key(config(0)) != setting_key(config(0, lr=4e-4))
    rows = [{"run": name, "seed": seed, "fid": fid} for name, seed, fid in
            [("a-seed1", 1, 2.0), ("b-seed0", 0, 9.0), ("a-seed0", 0, 1.0)]]
    settings = group_runs(rows, [config(1), config(0, lr=4e-4), config(0)])
    assert [(setting.name, setting.values("fid")) for setting in settings] == \
        [("a", [1.0, 2.0]), ("b", [9.0])]


def test_mean_and_sample_standard_deviation():
    mean, std = mean_std([1.0, 2.0, 3.0, 6.0])
    assert mean == 3.0 and std == pytest.approx(math.sqrt(14 / 3))
    assert mean_std([4.0]) == (4.0, None) and mean_std([]) == (None, None)


def test_welch_test_of_a_known_case():
    # Means 2 and 5, variances 1 and 1, three seeds each: t = -3.674 on 4 degrees of freedom,
    # two-sided p = 0.0213 (by hand from the t distribution).
    p, verdict = lead_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert p == pytest.approx(0.02131, abs=1e-4) and verdict == "real"
    p, verdict = lead_test([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert p > 0.05 and verdict == "within noise"
    assert lead_test([1.0], [4.0, 5.0]) == (None, "untested (one seed)")


def test_the_seed_table_ranks_settings_by_mean_fid_and_tests_the_leads():
    settings = [Setting("noisy", [{"fid": value} for value in (1.0, 2.0, 3.0)]),
                Setting("worse", [{"fid": value} for value in (4.0, 5.0, 6.0)]),
                Setting("best", [{"fid": value} for value in (0.9, 1.0, 1.1)])]
    header, rows = seed_table(settings)
    assert header == ["setting", "seeds", "fid", "FID per seed", "best's lead (Welch p)"]
    assert [row[0] for row in rows] == ["best", "noisy", "worse"]
    assert rows[0][2:] == ["1 ± 0.1", "0.9, 1, 1.1", "best"]
    assert rows[1][4].startswith("within noise") and rows[2][4].startswith("real")


def test_a_band_spans_the_seeds_at_the_steps_they_share():
    xs, mean, low, high = band([([1, 2, 3], [4.0, 2.0, 1.0]), ([1, 2], [6.0, 4.0])])
    assert (xs, mean, low, high) == ([1, 2], [5.0, 3.0], [4.0, 2.0], [6.0, 4.0])
