"""MetaPortrait (placeholder while building)."""
