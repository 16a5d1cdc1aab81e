"""The Rasa project's custom actions, served by `rasa-sdk` from voicebot's own Python:
`python -m rasa_sdk --actions voicebot.dialogue.actions` (with SANIC_HOST=127.0.0.1).

Each action is a thin wrapper around the same function of `flow.py` the built-in engine
runs: it reads the slots and the call's context (sent by `rasa.py` as message metadata:
the plan's questions, locale, time zone), runs the flow, sends the flow's messages as custom
payloads and sets the slots that changed. The server keeps nothing per call.
"""

from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from voicebot.dialogue.flow import INITIAL_STATE, Flow, Turn

FLOW = Flow()


def message_metadata(tracker: Tracker) -> dict[str, Any]:
    """The metadata of the message being handled (latest_message, else the last user event)."""
    meta = tracker.latest_message.get("metadata")
    if not meta:
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                meta = event.get("metadata")
                break
    return dict(meta or {})


class FlowAction(Action, abc.ABC):
    """Runs one flow action; subclasses only name it."""

    @abc.abstractmethod
    def name(self) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        meta = message_metadata(tracker)
        ctx = meta.get("voicebot") or {}
        if not ctx.get("questions"):
            # a message without voicebot's context cannot be interviewed: say so, change nothing
            dispatcher.utter_message(json_message={"error": "no voicebot context in metadata"})
            return []
        state = {key: tracker.get_slot(key) for key in INITIAL_STATE}
        state = {k: (INITIAL_STATE[k] if v is None else v) for k, v in state.items()}
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "nlu_fallback"
        now = meta.get("now")
        turn = Turn(
            intent=intent,
            text=str(meta.get("text", tracker.latest_message.get("text") or "")),
            event=meta.get("event") or {},
            now=datetime.fromisoformat(now) if now else None,
        )
        new_state, messages = FLOW.run(self.name(), state, ctx, turn)
        for message in messages:
            dispatcher.utter_message(json_message=message)
        return [SlotSet(k, v) for k, v in new_state.items() if v != state.get(k)]


def _action_class(action_name: str) -> type[FlowAction]:
    """A named module-level class per action (the server's workers pickle them by name)."""
    title = "".join(part.title() for part in action_name.split("_"))
    cls = type(
        title,
        (FlowAction,),
        {"name": lambda self: action_name, "__module__": __name__, "__qualname__": title},
    )
    globals()[title] = cls
    return cls


ACTIONS = {name: _action_class(name) for name in FLOW.actions}
