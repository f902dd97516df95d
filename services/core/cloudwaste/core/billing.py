"""Why an ML row has no real cost (ml_training_data.cost_real_missing): a reason, never a zero.
Shared by the scanner, which reads the bill, and the enricher, which fills the column."""

NO_BILLING_SOURCE = "no_billing_source"  # the provider offers no per-resource bill CloudWaste reads
BILLING_UNAVAILABLE = "billing_unavailable"  # the account's bill could not be read
NOT_BILLED = "not_in_billing_data"  # the bill was read: no charge of the resource in the window
