"""Function views, one module per area."""
