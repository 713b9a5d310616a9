"""ForgeML: improve an existing model step by step, every step tracked, versioned and registered."""

__version__ = "0.1.0"
