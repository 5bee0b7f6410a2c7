"""Video data: decoding, sampling and transforms. Knows nothing of the model."""
