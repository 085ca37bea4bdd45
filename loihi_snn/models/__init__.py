"""Trainable torch models that export themselves: sequential SLAYER nets, residual graph nets and
SPARTA."""
