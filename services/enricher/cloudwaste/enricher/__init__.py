"""CloudWaste enricher."""
