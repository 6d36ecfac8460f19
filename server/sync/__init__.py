"""The live documents: the y-websocket codec, rooms and their registry, the fold of a stored
document and the integration rule the room and the fold share."""
