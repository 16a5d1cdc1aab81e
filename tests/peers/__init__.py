"""Real SIP softphones (baresip, linphonec) and a raw UDP user agent for telephony tests.

Each peer owns a temp dir with its config and logs, binds 127.0.0.1 only, registers to a
`voicebot.telephony.registrar.LocalRegistrar` and is stopped (SIGTERM, then SIGKILL of its
process group) by `stop()`.
"""

from .audio import active_seconds, dominant_frequency, speech_wav, tone_wav
from .baresip import Baresip
from .linphone import Linphone
from .process import PeerError
from .rawsip import RawSipUser, SipMessage

__all__ = [
    "Baresip",
    "Linphone",
    "PeerError",
    "RawSipUser",
    "SipMessage",
    "active_seconds",
    "dominant_frequency",
    "speech_wav",
    "tone_wav",
]
