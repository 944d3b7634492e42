"""Versioned schema migrations: the engine (runner.py) apart from the steps (versions/)."""
