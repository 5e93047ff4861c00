"""Shared code of the course. Importing it applies the compatibility shims (utils/compat.py)."""
from . import compat

compat.apply()
