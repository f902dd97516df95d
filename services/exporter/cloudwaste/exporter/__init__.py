"""CloudWaste exporter."""
