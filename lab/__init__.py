"""Research clients of the factcheck package: training, fitting and packing models. Not part of the wheel."""
