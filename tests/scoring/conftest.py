"""Fixtures of the scoring tests: the example jobs."""

import pytest
from scoring_data import JOBS

from voicebot.interview.plan import Job, load_job


@pytest.fixture(scope="session")
def backend_job() -> Job:
    return load_job(JOBS / "backend-engineer.yaml")


@pytest.fixture(scope="session")
def zh_job() -> Job:
    return load_job(JOBS / "backend-engineer-zh.yaml")
