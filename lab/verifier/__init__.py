"""The verifier lab: training data, fine-tuning, threshold fitting, packing and replay of the shipped verifier."""
