"""Supplier and MDM file readers: bytes in, typed rows and row errors out; no database."""
