"""The realtime service: a full-duplex push server (client connects, server pushes any time)."""
