"""The bottom layer every domain imports: settings, durable file writes, locks, the data contract.

Nothing here imports a domain (ingest, quality, transform, serving, ...): see
docs/architecture.md ("Layers") and tests/test_layers.py, which enforces it.
"""
