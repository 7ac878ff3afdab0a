"""Personal data: erasure of a person from the raw and quarantine layers."""
