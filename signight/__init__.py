"""Signight: a real-time WebSocket server for 3D online games (Django + Channels)."""

__version__ = "0.1.0"
