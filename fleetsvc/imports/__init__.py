"""Supplier delivery imports: a file uploaded, staged, classified row by row and applied."""
