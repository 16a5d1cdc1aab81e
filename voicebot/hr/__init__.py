"""The HR side: candidate import and pre-screen, the HTTP API, signed webhooks, analytics."""
