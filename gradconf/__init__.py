"""gradconf: measuring gradient confusion (Sankararaman et al., ICML 2020)."""
__version__ = "0.1.0"
