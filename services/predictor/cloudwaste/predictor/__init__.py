"""CloudWaste predictor."""
