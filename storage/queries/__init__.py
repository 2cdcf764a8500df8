"""Named query functions, one module per subject. No business rules."""
