"""The spec-driven rename engine behind legacy-to-shim and shim-to-asyncio."""
