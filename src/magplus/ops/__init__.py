"""Pure tensor operations (warping, pyramids, temporal filters)."""
