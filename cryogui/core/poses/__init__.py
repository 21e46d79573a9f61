"""Poses: projection generator, orientation alignment, Siamese distance learning, orientation recovery, density
of viewing directions.  No Qt here (see DESIGN.md)."""
