"""Tests against a real Asterisk 22 started by the test run (see pbx.py)."""
