"""The fleet: four small services on the in-house runtime, waiting to be migrated."""
