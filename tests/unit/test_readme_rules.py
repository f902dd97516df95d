"""The README's rule table is the registry's: `cloudwaste rules --format markdown` wrote it, and a
rule added, removed or changed without regenerating it fails here."""

from __future__ import annotations

from pathlib import Path

from cloudwaste.scanner import catalog

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- rules:aws:begin (cloudwaste rules --format markdown) -->\n", "<!-- rules:aws:end -->"


def test_the_readme_rule_table_is_generated_from_the_registry():
    text = README.read_text()
    assert BEGIN in text and END in text, "the README has no generated rule table"
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block == catalog.rules_markdown("aws"), "regenerate it: cloudwaste rules --format markdown"
