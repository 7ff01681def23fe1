"""Internal utilities: input validation, progress bars, the C vector maths header."""
