"""Per-frame audio for every bridge: G.711, RTP, jitter buffering, pacing and DTMF."""
