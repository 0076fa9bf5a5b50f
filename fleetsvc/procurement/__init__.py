"""Suppliers, contracts, purchase orders and licence pools: what the fleet is bought on.

Figures that follow from other records (a contract's committed value, a
purchase order's delivered quantities, a pool's free seats) are derived when
read, never stored, so they cannot drift from the assets actually received.
"""
