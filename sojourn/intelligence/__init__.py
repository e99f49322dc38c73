"""What Sojourn learns from a customer's own history: where she engages (best
channel), when she is active (best time), what she may like (recommendations)."""
