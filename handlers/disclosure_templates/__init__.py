"""Templates of the disclosure staff pages (package so they ship with the wheel)."""
