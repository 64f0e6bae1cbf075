"""sparsemcu: sparse architecture search for CNNs on microcontrollers, shipped as C firmware."""

__version__ = "0.1.0"
