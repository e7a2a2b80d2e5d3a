"""The package version: a leaf module every layer may import (it imports nothing of ours).

``pyproject.toml`` states the same version; a test asserts that they match.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
