"""Data-driven attribution (Markov removal effects, Shapley values) between dbt models."""
