#!/usr/bin/env python3
"""Reference speech service for the vpbx voice assistant (SPEC section 3, op 16).

POST <any path>  multipart/form-data with parts
    lang     text, e.g. en-US (English only)
    phrases  application/json, [{"phrase": "support", "synonyms": ["help"]}, ...]
    audio    audio/wav, mono 16-bit PCM at 8000 Hz (16000 Hz is accepted too)
-> 200 {"text": "...", "phrase": "<canonical phrase or null>", "confidence": 0.0..1.0}
-> 400 {"error": "<part>: <problem>"} for a bad request
GET /health -> 200 {"status": "ok"}

Recognition: pocketsphinx (its bundled en-US acoustic model and CMU dictionary)
decodes the answer against a JSGF grammar made of the phrases and synonyms
(plus a few common "distractor" words that stand for out-of-list speech; a
distractor win means phrase null). Confidence is the score margin between the
best path and the best path once the winning phrase (all its synonyms) is taken
out of the grammar, mapped to 0..1. Audio with no voiced frames (WebRTC-style
VAD from pocketsphinx) is answered with phrase null, confidence 0.

Usage: python speech_service.py --host 127.0.0.1 --port 0
The first stdout line is "listening on http://HOST:PORT" (flushed); one log line
per request goes to stderr.
"""

from __future__ import annotations

import argparse
import array
import io
import json
import math
import queue
import re
import sys
import threading
import time
import wave
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pocketsphinx

MAX_BODY = 16 * 1024 * 1024  # 16 MiB: ~17 minutes of 8 kHz 16-bit audio

# Common words that compete with the phrases: when one of them wins, the caller
# said something that is not in the list and the answer is phrase null.
DISTRACTORS = [
    "hello", "hi", "what", "okay", "i", "the", "a", "is", "it", "to", "and", "of",
    "um", "uh", "well", "please", "thanks", "maybe", "who", "where", "when", "why",
    "so", "oh", "good", "fine", "wait", "sorry", "right", "one", "two", "three",
]

# Confidence = 1 - exp(-margin / MARGIN_SCALE); margin is the hypothesis score
# difference (in pocketsphinx's score units) between the best path and the best
# path without the winning phrase. Chosen from accuracy.py's measurements.
MARGIN_SCALE = 0.03
NO_COMPETITOR_MARGIN = 0.1  # one phrase and no distractors: nothing to compare with

DECODER_CONFIG = dict(
    lm=None,
    loglevel="FATAL",
    bestpath=False,  # FSG lattice best-path may return a silence-only path; the Viterbi path obeys the grammar
    topn=16,
    beam=1e-80,
    pip=2.0,
    # The switch's recordings hold digital silence (exact zeros: no RTP, or mu-law silence);
    # its log energy wrecks the cepstral mean and the VAD's edges. Dither (a fixed seed, so a
    # request sequence decodes the same every run) measured +0.3..0.4 confidence on them.
    dither=True,
    seed=1,
)


class BadRequest(Exception):
    pass


def log(msg: str) -> None:
    sys.stderr.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


def normalise(text: str) -> list[str]:
    """Lower-case words of a phrase as the CMU dictionary spells them."""
    return [w for w in re.split(r"[^a-z0-9']+", text.lower()) if w and w.strip("'")]


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("request: Content-Type must be multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise BadRequest("request: body is not multipart (missing boundary?)")
    parts: dict[str, tuple[str, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        parts[str(name)] = (part.get_content_type(), payload)
    return parts


def parse_phrases(raw: bytes) -> list[dict]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"phrases: not valid JSON ({e})")
    if not isinstance(data, list):
        raise BadRequest("phrases: must be a JSON array")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("phrase"), str) or not item["phrase"].strip():
            raise BadRequest(f"phrases: item {i} must be an object with a non-empty string \"phrase\"")
        syn = item.get("synonyms", [])
        if syn is None:
            syn = []
        if not isinstance(syn, list) or not all(isinstance(s, str) for s in syn):
            raise BadRequest(f"phrases: item {i} \"synonyms\" must be an array of strings")
        out.append({"phrase": item["phrase"], "synonyms": syn})
    return out


def parse_wav(raw: bytes) -> tuple[array.array, int]:
    try:
        with wave.open(io.BytesIO(raw)) as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            frames = w.readframes(n)
    except (wave.Error, EOFError) as e:
        raise BadRequest(f"audio: not a PCM WAV file ({e or 'no RIFF/WAVE header'})")
    if ch != 1 or width != 2 or rate not in (8000, 16000):
        raise BadRequest(f"audio: need mono 16-bit PCM at 8000 Hz, got {ch} channel(s), "
                         f"{8 * width}-bit, {rate} Hz")
    samples = array.array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples, rate


def upsample2(x: array.array) -> array.array:
    """8 kHz -> 16 kHz by linear interpolation (measured no worse than a 16-tap half-band FIR)."""
    n = len(x)
    out = array.array("h", bytes(4 * n))
    out[0::2] = x
    if n:
        nxt = x[1:]
        nxt.append(x[-1])
        out[1::2] = array.array("h", [(a + b) >> 1 for a, b in zip(x, nxt)])
    return out


class Recognizer:
    def __init__(self, workers: int, distractors: bool, cmn: str = "batch", trim_ms: int | None = 200):
        self.distractors = distractors
        self.trim_ms = trim_ms
        self.pool: queue.Queue = queue.Queue()
        for _ in range(workers):
            self.pool.put(pocketsphinx.Decoder(**DECODER_CONFIG, cmn=cmn))
        self.known_cache: dict[str, bool] = {}
        self.lock = threading.Lock()

    def known(self, dec, word: str) -> bool:
        with self.lock:
            if word not in self.known_cache:
                self.known_cache[word] = dec.lookup_word(word) is not None
            return self.known_cache[word]

    def voiced(self, samples: array.array, rate: int) -> tuple[int, int, int]:
        """(voiced ms, first voiced sample, end of the last voiced frame) by the VAD."""
        vad = pocketsphinx.Vad(pocketsphinx.Vad.MEDIUM_STRICT, frame_length=0.03, sample_rate=rate)
        step = vad.frame_bytes // 2
        voiced, first, last = 0, None, 0
        for i in range(0, len(samples) - step + 1, step):
            if vad.is_speech(samples[i:i + step].tobytes()):
                voiced += 1
                first = i if first is None else first
                last = i + step
        return voiced * 30, first or 0, last

    def recognize(self, phrases: list[dict], samples: array.array, rate: int) -> dict:
        dec = self.pool.get()
        try:
            return self._recognize(dec, phrases, samples, rate)
        finally:
            self.pool.put(dec)

    def _recognize(self, dec, phrases, samples, rate) -> dict:
        # alternative text -> canonical phrase (first phrase wins on duplicates)
        alts: dict[str, str] = {}
        skipped = []
        for item in phrases:
            for t in [item["phrase"]] + item["synonyms"]:
                words = normalise(t)
                if not words:
                    continue
                unknown = [w for w in words if not self.known(dec, w)]
                if unknown:
                    skipped.append(f"{t!r} (not in dictionary: {' '.join(unknown)})")
                    continue
                alts.setdefault(" ".join(words), item["phrase"])
        if skipped:
            log("skipped alternatives: " + "; ".join(skipped))
        if not alts:
            return {"text": "", "phrase": None, "confidence": 0.0}
        voiced_ms, first, last = self.voiced(samples, rate)
        if voiced_ms < 90:
            return {"text": "", "phrase": None, "confidence": 0.0}
        if self.trim_ms is not None:
            keep = rate * self.trim_ms // 1000
            samples = samples[max(0, first - keep):last + keep]
        audio = (upsample2(samples) if rate == 8000 else samples).tobytes()

        competitors = [] if not self.distractors else [w for w in DISTRACTORS if w not in alts and self.known(dec, w)]
        text, score = self._decode(dec, list(alts) + competitors, audio)
        if text is None:
            return {"text": "", "phrase": None, "confidence": 0.0}
        phrase = alts.get(text)
        # Margin against the best path without the winner (all of its synonyms, or the distractor).
        rest = [a for a in alts if alts[a] != phrase] if phrase else [a for a in alts]
        rest += [w for w in competitors if w != text]
        if rest:
            _, score2 = self._decode(dec, rest, audio)
            margin = score - score2 if score2 is not None else NO_COMPETITOR_MARGIN
        else:
            margin = NO_COMPETITOR_MARGIN
        conf = 1.0 - math.exp(-max(0.0, margin) / MARGIN_SCALE)
        if phrase is None:
            conf = 0.0
        return {"text": text, "phrase": phrase, "confidence": round(conf, 3)}

    @staticmethod
    def _decode(dec, alternatives: list[str], audio: bytes):
        """Best path of the grammar "alt1 | alt2 | ..." -> (text, score) or (None, None).

        Each decoder is used by one request at a time, so one search name per decoder,
        replaced on every call, is enough."""
        body = " | ".join(f"( {a} )" for a in alternatives)
        dec.add_jsgf_string("answer", f"#JSGF V1.0;\ngrammar answer;\npublic <answer> = {body};\n")
        dec.activate_search("answer")
        dec.start_utt()
        dec.process_raw(audio, full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
        if hyp is None or not hyp.hypstr:
            return None, None
        return hyp.hypstr, hyp.score


def make_handler(rec: Recognizer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "vpbx-speech/1"

        def log_message(self, fmt, *args):  # the one line per request is ours
            pass

        def reply(self, code: int, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.split("?")[0] == "/health":
                self.reply(200, {"status": "ok"})
            else:
                self.reply(404, {"error": "not found (POST the recognition request; GET /health)"})

        def do_POST(self):
            t0 = time.monotonic()
            asked = "-"
            try:
                length = int(self.headers.get("Content-Length") or "-1")
                if length < 0:
                    raise BadRequest("request: Content-Length required")
                if length > MAX_BODY:
                    raise BadRequest(f"request: body larger than {MAX_BODY} bytes")
                body = self.rfile.read(length)
                parts = parse_multipart(self.headers.get("Content-Type", ""), body)
                for name in ("lang", "phrases", "audio"):
                    if name not in parts:
                        raise BadRequest(f"{name}: part missing")
                lang = parts["lang"][1].decode("utf-8", "replace").strip()
                phrases = parse_phrases(parts["phrases"][1])
                asked = ",".join(p["phrase"] + ("(" + "|".join(p["synonyms"]) + ")" if p["synonyms"] else "")
                                 for p in phrases)
                samples, rate = parse_wav(parts["audio"][1])
                if not re.fullmatch(r"(?i)en([-_][a-z0-9]+)*", lang):
                    result = {"text": "", "phrase": None, "confidence": 0.0, "error": "language not supported"}
                else:
                    result = rec.recognize(phrases, samples, rate)
                self.reply(200, result)
                log(f"POST {self.path} lang={lang} phrases=[{asked}] audio={len(samples) / rate:.2f}s "
                    f"text={result['text']!r} phrase={result['phrase']} confidence={result['confidence']:.3f} "
                    f"{(time.monotonic() - t0) * 1000:.0f}ms" + (f" error={result['error']!r}" if "error" in result else ""))
            except BadRequest as e:
                self.reply(400, {"error": str(e)})
                log(f"POST {self.path} 400 {e} phrases=[{asked}] {(time.monotonic() - t0) * 1000:.0f}ms")
            except Exception as e:  # noqa: BLE001 - a request must never kill the service
                self.reply(500, {"error": f"internal: {type(e).__name__}: {e}"})
                log(f"POST {self.path} 500 {type(e).__name__}: {e}")

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description="vpbx reference speech service (pocketsphinx, English)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port (printed on stdout)")
    ap.add_argument("--workers", type=int, default=2, help="decoders, i.e. requests decoded at once")
    ap.add_argument("--no-distractors", action="store_true",
                    help="grammar of the phrases only (every answer maps to some phrase)")
    ap.add_argument("--cmn", choices=("batch", "live"), default="batch",
                    help="cepstral mean normalisation: per request (batch, default) or carried "
                         "over from the previous requests (live)")
    ap.add_argument("--trim-ms", type=int, default=200,
                    help="keep this much audio around the voiced part (VAD) and cut the rest; "
                         "-1 decodes the whole recording")
    args = ap.parse_args()
    rec = Recognizer(max(1, args.workers), distractors=not args.no_distractors, cmn=args.cmn,
                     trim_ms=None if args.trim_ms < 0 else args.trim_ms)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(rec))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
