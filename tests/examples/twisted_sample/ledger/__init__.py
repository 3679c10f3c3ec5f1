"""A fleet-style service written the Twisted way, converted by the tests (never imported by them)."""
