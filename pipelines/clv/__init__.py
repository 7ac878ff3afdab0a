"""Probabilistic customer lifetime value: BG/NBD + Gamma-Gamma between the dbt models."""
