"""fleetsvc: the register of a police force's mobile device fleet."""

__version__ = "0.1.0"
