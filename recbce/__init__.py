"""recbce: implicit-feedback recommenders trained with sigmoid BCE and negative sampling."""

__version__ = "0.1.0"
