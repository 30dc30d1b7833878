"""Several sensors fused into one 10 m daily pivot representation, physically and by a learned model."""
