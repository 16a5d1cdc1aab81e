"""Paths and ids the HR tests share."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
JOB_FILE = DATA / "job.yaml"
JOB_ID = "test-backend"
