"""Figure helpers: rows that share a pixel space are displayed with one common map."""

import numpy as np

from ssl_pipelines import plots


def test_to_display_range_is_identity_on_unit_images_and_clips_out_of_range_reconstructions():
    x = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)[None, ..., None]
    rows = plots.to_display_range({"input": x, "x_hat_c": x - 0.5})
    np.testing.assert_allclose(rows["input"], x)
    np.testing.assert_allclose(rows["x_hat_c"].ravel(), [0.0, 0.0, 0.0, 0.5])


def test_to_display_range_maps_standardized_rows_with_the_inputs_range_not_per_image():
    # a standardized input in [-2, 2] and a faint partial reconstruction in [-0.2, 0.2]
    x = np.linspace(-2.0, 2.0, 16, dtype=np.float32).reshape(1, 4, 4, 1)
    rows = plots.to_display_range({"input": x, "x_hat_c": x / 10})
    np.testing.assert_allclose(rows["input"], (x + 2) / 4, atol=1e-6)  # nothing clipped away
    faint = rows["x_hat_c"]
    assert 0.44 < faint.min() and faint.max() < 0.56  # stays faint: same map as the input, mid-grey
