"""estimators: protein structures -> 6DCNN features -> quality scores (sklearn-style)."""
__version__ = "0.1.0"
