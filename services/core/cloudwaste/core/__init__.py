"""CloudWaste core."""
