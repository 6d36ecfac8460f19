"""Coedit: a self-hosted collaborative editing server speaking the y-websocket protocol."""
