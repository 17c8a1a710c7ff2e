"""Dock panels; each binds to the session / controller and knows nothing of the others."""
