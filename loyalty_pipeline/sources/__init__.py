"""Extraction of the contract's source systems into the raw store."""
