"""Local fake upstream servers speaking the real APIs' shapes, with failures on demand."""
