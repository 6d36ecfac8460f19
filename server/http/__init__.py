"""The HTTP API and pages: errors, request parts, documents, history, accounts, pages."""
