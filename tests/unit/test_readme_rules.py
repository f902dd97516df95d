"""The README's rule tables are the registry's: `cloudwaste rules --provider P --format markdown`
wrote each, and a rule added, removed or changed without regenerating them fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from cloudwaste.scanner import catalog

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp", "m365"])
def test_the_readme_rule_table_is_generated_from_the_registry(provider):
    begin = f"<!-- rules:{provider}:begin (cloudwaste rules --provider {provider} --format markdown) -->\n"
    end = f"<!-- rules:{provider}:end -->"
    text = README.read_text()
    assert begin in text and end in text, f"the README has no generated {provider} rule table"
    block = text.split(begin, 1)[1].split(end, 1)[0]
    assert block == catalog.rules_markdown(provider), (
        f"regenerate it: cloudwaste rules --provider {provider} --format markdown"
    )
