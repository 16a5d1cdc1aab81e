"""The HR web console (server-rendered, works without JavaScript) and token management."""
