"""Build (and optionally push) each model's serving image."""

from .component import ModelImage, ModelImageArgs

__all__ = ["ModelImage", "ModelImageArgs"]
