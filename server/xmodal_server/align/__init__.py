"""Training of projection heads (alignment)."""
