"""Serving the shop: photo decoding and preprocessing, the servable pyfunc, the stock catalog."""
