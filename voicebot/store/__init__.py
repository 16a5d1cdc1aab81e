"""Persistence for everything a call produces."""

from voicebot.store.db import Store, StoreError, TurnRecord, remote_hash

__all__ = ["Store", "StoreError", "TurnRecord", "remote_hash"]
