"""Tests for minigpt.checks: values from outside are refused with a message naming them."""

import argparse
import math

import numpy as np
import pytest

from minigpt.checks import arg_type, check_float, check_int, check_token_sequence


def test_check_int():
    assert check_int(np.int64(3), "n", minimum=1) == 3 and type(check_int(np.int64(3), "n")) is int
    for bad in (2.5, 3.0, True, "3", None):
        with pytest.raises(ValueError, match="n must be"):
            check_int(bad, "n")
    with pytest.raises(ValueError, match="max_iters must be a positive integer, got 0"):
        check_int(0, "max_iters", minimum=1)


def test_check_float_refuses_nan_inf_and_out_of_range():
    assert check_float(1, "lr", above=0) == 1.0
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            check_float(bad, "lr", above=0)
    with pytest.raises(ValueError, match="beta2 must be a number >= 0 and < 1, got 1.5"):
        check_float(1.5, "beta2", minimum=0, below=1)
    with pytest.raises(ValueError, match="> 0"):
        check_float(0.0, "lr", above=0)


def test_arg_type_names_the_rule():
    parse = arg_type(check_float, minimum=0)
    assert parse("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match=">= 0"):
        parse("-1")


def test_check_token_sequence():
    np.testing.assert_array_equal(check_token_sequence([1, 2, 3], "ids", vocab_size=4), [1, 2, 3])
    with pytest.raises(ValueError, match="ids"):
        check_token_sequence([1.5, 2.0], "ids")  # floats are not truncated in silence
    with pytest.raises(ValueError, match="ids"):
        check_token_sequence([1, 9], "ids", vocab_size=4)
    with pytest.raises(ValueError, match="ids"):
        check_token_sequence([1], "ids", min_length=2)


def test_check_fields_refuses_unknown_keys():
    from minigpt.checks import check_fields
    from minigpt.train import TrainConfig

    assert check_fields(TrainConfig, {"max_iters": 3}) == {"max_iters": 3}
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['max_iter'\]; hint"):
        check_fields(TrainConfig, {"max_iter": 3}, "; hint")
    with pytest.raises(ValueError, match="must be a dict"):
        check_fields(TrainConfig, [("max_iters", 3)])
