"""Grounded research tasks synthesised from a world: the `worldbuild synth-qa` stages."""
