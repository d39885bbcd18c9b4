"""Everything about Retino's XML order feed: model, mapping, rendering, validation."""
