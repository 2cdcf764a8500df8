"""Files the office takes away: the annual report (XLSX, CSV, Markdown,
JSON, DOCX), charts (SVG, PNG), answer letters (DOCX), knowledge-base and
menu files (YAML, TOML, JSON)."""
