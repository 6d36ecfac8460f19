"""Comments: threads anchored on a document's text, kept in a Yjs document of their own (see
ARCHITECTURE.md, "Comments"), and the rules the server holds every change to."""
