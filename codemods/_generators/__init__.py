"""The generator engine behind generators-to-async."""
