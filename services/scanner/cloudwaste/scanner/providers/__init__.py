"""Providers list resources, once per kind and region, into `Resource` values. No rule logic here."""
