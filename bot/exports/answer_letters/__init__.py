"""Editable answer-letter (答复书) templates: letter.txt.j2 and outcomes.yaml."""
