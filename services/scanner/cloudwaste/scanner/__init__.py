"""CloudWaste scanner."""
