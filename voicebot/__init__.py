"""voicebot: an AI phone-screening interviewer."""

__version__ = "0.1.0"
