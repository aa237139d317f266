"""Grounded QA task synthesis over a world (the `synth-qa` stage; not built yet)."""
