"""aind-bucket-lint: a conformance linter for AIND data buckets."""

__version__ = "0.1.0"
