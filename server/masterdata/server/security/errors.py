"""The error of a security setting that cannot work."""

from __future__ import annotations


class SecurityConfigError(ValueError):
    """A bad security or exposure setting; `masterdata serve` prints it and exits 2."""
