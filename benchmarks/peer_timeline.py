"""Run by a peer's own venv (never by ours): prints one peer's speech timeline of a stereo WAV as JSON.

``python peer_timeline.py call-ai-metrics|hotato FILE.wav`` -> ``{"segments": [[start, end, speaker], ...],
"talk_s": {speaker: seconds}}`` with left = operator, right = client. Imports only the peer.
"""

from __future__ import annotations

import json
import sys


def call_ai_metrics(path: str) -> dict:
    from call_ai_metrics import analyze

    report = analyze(path, speakers=["operator", "client"])
    return {
        "segments": [[s.start_s, s.end_s, s.speaker] for s in report.segments],
        "talk_s": {name: st.talk_time_s for name, st in report.speakers.items()},
    }


def hotato(path: str) -> dict:
    from hotato._engine.audio import frame_rms
    from hotato._engine.score import ScoreConfig
    from hotato._engine.vad import energy_vad
    from hotato.core import _read_wav

    cfg = ScoreConfig()
    signal = _read_wav(path)
    segments = []
    talk: dict[str, float] = {}
    # hotato's roles: caller channel 0, agent channel 1 by default; each scored with its own VAD params.
    for idx, (speaker, params) in enumerate((("operator", cfg.caller_vad), ("client", cfg.agent_vad))):
        rms, hop = frame_rms(signal.get(idx), signal.sample_rate, cfg.frame_ms, cfg.hop_ms)
        active = energy_vad(rms, hop, params).active_trimmed
        start = None
        for i, on in enumerate([*active, False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                end = (i - 1) * hop + cfg.frame_ms / 1000.0  # the last active frame's end
                segments.append([start * hop, end, speaker])
                talk[speaker] = talk.get(speaker, 0.0) + end - start * hop
                start = None
    return {"segments": sorted(segments), "talk_s": talk}


if __name__ == "__main__":
    tool, wav = sys.argv[1], sys.argv[2]
    print(json.dumps({"call-ai-metrics": call_ai_metrics, "hotato": hotato}[tool](wav)))
