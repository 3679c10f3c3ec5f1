"""Backends: asyncio (uvloop is a loop option of it) and the legacy adapter; see ``_base``."""
