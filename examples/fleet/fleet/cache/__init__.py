"""The cache service: counters and cached values in Redis."""
