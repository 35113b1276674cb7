"""The bench's baseline: the Channels tutorial's way of building the same game socket."""
