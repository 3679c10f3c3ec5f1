"""Real peers for the fleet's tests: nginx in front of a small upstream, the websockets library."""
