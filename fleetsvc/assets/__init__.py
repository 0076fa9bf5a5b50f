"""Assets: one physical, serialised device each, and everything done to it."""
