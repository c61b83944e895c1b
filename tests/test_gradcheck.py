"""Tests for minigpt.gradcheck: the check every backward function in the book relies on."""

import numpy as np
import pytest

from minigpt.gradcheck import numerical_gradient, relative_error


def test_numerical_gradient_of_a_known_function_and_x_is_restored():
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.3]])
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(x ** 3) + np.sin(x).sum()), x)
    assert relative_error(grad, 3 * before ** 2 + np.cos(before)) < 1e-9  # central differences: O(h^2)
    np.testing.assert_array_equal(x, before)  # every perturbation was undone


def test_float32_is_refused():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_relative_error_scale():
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([-1.0, 0.0])) == pytest.approx(1.0)
    # normalised by the largest magnitude, so a tiny entry cannot blow the ratio up
    assert relative_error(np.array([1.0, 1e-12]), np.array([1.0, 2e-12])) < 1e-11
