"""socialpulse: continuous social-media metric ingestion."""

__version__ = "0.1.0"
