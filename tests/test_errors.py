"""The one positive-number check that options, images and latents share."""

from __future__ import annotations

import numpy as np
import pytest

from ganctl.errors import UsageError, check_positive


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(1)])
def test_positive_whole_numbers_pass(value):
    check_positive("--n", value)


@pytest.mark.parametrize("value", [0.5, 2.0, np.float32(1e-3), 1])
def test_positive_numbers_pass_where_fractions_may(value):
    check_positive("--fps", value, whole=False)


@pytest.mark.parametrize("value, whole, shown", [
    (0, True, "0"), (-3, True, "-3"), (np.int64(-2), True, "-2"), (2.5, True, "2.5"),
    (2.0, True, "2.0"), (True, True, "True"), (None, True, "None"), ("3", True, "'3'"),
    (0.0, False, "0.0"), (-1.5, False, "-1.5"), (float("inf"), False, "inf"),
    (float("nan"), False, "nan"), (True, False, "True"),
])
def test_everything_else_is_refused_in_one_line(value, whole, shown):
    kind = "whole number" if whole else "number"
    with pytest.raises(UsageError) as info:
        check_positive("--x", value, whole=whole)
    assert str(info.value) == f"--x must be a positive {kind}, got {shown}"
