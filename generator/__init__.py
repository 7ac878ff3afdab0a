"""Deterministic demo data in real vendor export shapes (see SHAPES.md in this folder)."""

from generator.core import GenerateReport, generate

__all__ = ["GenerateReport", "generate"]
