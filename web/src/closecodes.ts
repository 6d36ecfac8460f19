// The WebSocket close codes the browser acts on (the server's 44xx: reconnecting can't help).
//
// The server's list is server/closecodes.py; tests/test_closecodes.py checks that every name
// here means the same code there, and that the document page handles every 44xx.

export const Close = {
  /** Our access changed (a link revoked, a role changed): ask again (PUT), then reconnect. */
  REVOKED: 4403,
  /** The document was deleted: stop, and delete this device's copy. */
  DELETED: 4404,
  /** We connected with an old epoch (deleted and re-created): delete our copy and reload. */
  STALE_EPOCH: 4410,
  /** Our editor schema is older than the server's: reload (keeping our copy) before syncing. */
  SCHEMA_OUTDATED: 4426,
} as const;
