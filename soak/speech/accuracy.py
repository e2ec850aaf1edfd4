#!/usr/bin/env python3
"""Accuracy measurement for the reference speech service (speech_service.py).

Synthesises N spoken variants of each test word with espeak-ng (voice, speed and
pitch varied), passes them through G.711 like a phone call does (sox: 8 kHz,
mu-law and back to 16-bit PCM, 0.3 s of silence before and after), starts the
service on a free loopback port, POSTs every sample with the full phrase list
and prints:

  * per word: recognised correctly / N, wrong phrase, none, mean confidence, mean ms
  * false accepts: out-of-list words and silence/noise that got a phrase
  * a confidence-threshold sweep (what the switch should require)

Run from the repo root (setup.sh creates the venv):

    python3 soak/speech/accuracy.py --python "$(bash soak/speech/setup.sh | tail -n1)"

Needs espeak-ng and sox; installs them with apt-get when missing and run as root.
Uses only the standard library, so any python3 can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))

# The phrase list sent with every request, like a voice-assistant step of a
# scenario would configure it (canonical phrase + synonyms).
PHRASES = [
    {"phrase": "support", "synonyms": ["help", "technical support"]},
    {"phrase": "billing", "synonyms": ["invoice", "payment"]},
    {"phrase": "operator", "synonyms": ["agent", "human"]},
    {"phrase": "sales", "synonyms": ["buy"]},
    {"phrase": "reception", "synonyms": []},
    {"phrase": "accounts", "synonyms": []},
    {"phrase": "yes", "synonyms": ["yeah"]},
    {"phrase": "no", "synonyms": ["nope"]},
]

# (spoken text, expected phrase). The first block is the table the README keeps.
WORDS = [
    ("support", "support"),
    ("billing", "billing"),
    ("operator", "operator"),
    ("sales", "sales"),
    ("reception", "reception"),
    ("accounts", "accounts"),
    ("yes", "yes"),
    ("no", "no"),
]
SYNONYM_WORDS = [
    ("help", "support"),
    ("technical support", "support"),
    ("invoice", "billing"),
]

# Words not in the list: every one of these should come back with phrase null.
OUT_OF_LIST = [
    "banana", "weather", "hello", "pizza", "tomorrow",
    "elephant", "computer", "music", "window", "thank you very much",
]

# espeak-ng voices (voice+variant); cycled together with speed and pitch so
# that no two variants of a word are alike.
VOICES = [
    "en-us", "en", "en-us+f3", "en+m3", "en-gb-x-rp+f2", "en-029",
    "en-us-nyc+m7", "en-gb-scotland+f4", "en-us+m2", "en-gb-x-rp",
    "en-us+f2", "en-gb-x-gbclan", "en-us+m5", "en+f4", "en-029+m1",
]
SPEEDS = [140, 150, 160, 170, 180]
PITCHES = [30, 40, 50, 60, 70]


def need_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"accuracy.py: missing {' '.join(missing)}; "
                 "install with: apt-get update && apt-get install -y espeak-ng sox")
    print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "espeak-ng", "sox"], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


# Silence around each spoken sample, seconds (--pad-before/--pad-after). The switch's
# recordings end with the operation's silence_ms of silence (default 0.8 s).
PAD = [0.3, 0.3]


def telephone(src: str, dst: str, pad: float | None = None) -> None:
    """src (any WAV) -> 8 kHz mu-law -> 16-bit PCM 8 kHz mono WAV, padded with silence."""
    before, after = PAD if pad is None else (pad, pad)
    ulaw = dst + ".ul.wav"
    subprocess.run(["sox", "-q", src, "-r", "8000", "-c", "1", "-e", "u-law", "-b", "8", ulaw,
                    "pad", str(before), str(after)], check=True)
    subprocess.run(["sox", "-q", ulaw, "-e", "signed-integer", "-b", "16", dst], check=True)
    os.unlink(ulaw)


def variant(i: int) -> tuple[str, int, int]:
    return VOICES[i % len(VOICES)], SPEEDS[i % len(SPEEDS)], PITCHES[(i // len(SPEEDS) + i) % len(PITCHES)]


def speak(text: str, i: int, out: str) -> str:
    voice, speed, pitch = variant(i)
    raw = out + ".espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", raw, text],
                   check=True)
    telephone(raw, out)
    os.unlink(raw)
    return f"{voice} -s {speed} -p {pitch}"


def noise(i: int, out: str) -> str:
    """Silence and noise samples, 1.5 s each, through G.711 too."""
    kinds = [
        ("silence", ["synth", "1.5", "sine", "0", "vol", "0"]),
        ("white noise -40 dB", ["synth", "1.5", "whitenoise", "vol", "0.01"]),
        ("white noise -26 dB", ["synth", "1.5", "whitenoise", "vol", "0.05"]),
        ("pink noise -30 dB", ["synth", "1.5", "pinknoise", "vol", "0.03"]),
        ("pink noise -20 dB", ["synth", "1.5", "pinknoise", "vol", "0.1"]),
        ("brown noise -20 dB", ["synth", "1.5", "brownnoise", "vol", "0.1"]),
        ("hum 50 Hz", ["synth", "1.5", "sine", "50", "vol", "0.1"]),
        ("tone 425 Hz", ["synth", "1.5", "sine", "425", "vol", "0.1"]),
        ("dial tone 350+440 Hz", ["synth", "1.5", "sine", "350", "sine", "440", "remix", "-",
                                  "vol", "0.1"]),
        ("click train", ["synth", "1.5", "square", "4", "vol", "0.05"]),
    ]
    name, effect = kinds[i % len(kinds)]
    raw = out + ".noise.wav"
    subprocess.run(["sox", "-q", "-n", "-r", "22050", "-c", "1", "-b", "16", raw] + effect, check=True)
    telephone(raw, out, pad=0.0)
    os.unlink(raw)
    return name


def multipart(fields: list[tuple[str, str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "vpbx-" + uuid.uuid4().hex
    body = bytearray()
    for name, ctype, filename, data in fields:
        body += f"--{boundary}\r\n".encode()
        disp = f'form-data; name="{name}"'
        if filename:
            disp += f'; filename="{filename}"'
        body += f"Content-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


def recognize(url: str, wav: str, phrases=None, lang: str = "en-US") -> tuple[dict, float]:
    phrases = PHRASES if phrases is None else phrases
    with open(wav, "rb") as f:
        audio = f.read()
    body, ctype = multipart([
        ("lang", "text/plain", None, lang.encode()),
        ("phrases", "application/json", None, json.dumps(phrases).encode()),
        ("audio", "audio/wav", "answer.wav", audio),
    ])
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=60) as r:
        reply = json.load(r)
    return reply, (time.monotonic() - t0) * 1000.0


def start_service(python: str, extra: list[str], log_path: str) -> tuple[subprocess.Popen, str]:
    cmd = [python, os.path.join(HERE, "speech_service.py"), "--host", "127.0.0.1", "--port", "0"] + extra
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    first = proc.stdout.readline().strip()
    prefix = "listening on "
    if not first.startswith(prefix):
        proc.kill()
        sys.exit(f"accuracy.py: service did not start (first line {first!r})")
    base = first[len(prefix):]
    for _ in range(100):
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if json.load(r).get("status") == "ok":
                    break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    return proc, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with pocketsphinx (the venv from setup.sh)")
    ap.add_argument("--url", help="use this running service instead of starting one")
    ap.add_argument("-n", type=int, default=15, help="variants per word (default 15)")
    ap.add_argument("--negatives", type=int, default=10,
                    help="out-of-list words and noise samples, each (default 10)")
    ap.add_argument("--keep", help="write the samples to this folder and keep them")
    ap.add_argument("--json", help="write every result to this file")
    ap.add_argument("--service-log", default=os.devnull,
                    help="write the service's request log (stderr) to this file")
    ap.add_argument("--service-arg", action="append", default=[],
                    help="extra argument for speech_service.py (repeatable)")
    ap.add_argument("--phrases", help="the phrase list sent with every request, as JSON "
                    "(default: the 8-phrase list above)")
    ap.add_argument("--words", help="the spoken test words, comma-separated, each TEXT or "
                    "TEXT=PHRASE (default: the words above and three synonyms)")
    ap.add_argument("--pad-before", type=float, default=0.3,
                    help="seconds of silence before each spoken sample (default 0.3)")
    ap.add_argument("--pad-after", type=float, default=0.3,
                    help="seconds of silence after each spoken sample (default 0.3; the switch "
                         "sends silence_ms, 0.8 s by default)")
    args = ap.parse_args()
    PAD[:] = [args.pad_before, args.pad_after]
    global PHRASES
    if args.phrases:
        PHRASES = json.loads(args.phrases)
    words, synonym_words = WORDS, SYNONYM_WORDS
    if args.words:
        words, synonym_words = [], []
        for item in args.words.split(","):
            text, _, expected = item.strip().partition("=")
            if expected and expected != text:
                synonym_words.append((text, expected))
            else:
                words.append((text, text))

    need_tools()
    workdir = args.keep or tempfile.mkdtemp(prefix="vpbx-speech-")
    os.makedirs(workdir, exist_ok=True)

    samples = []  # (group, text, expected, file, how)
    for text, expected in words + synonym_words:
        group = "word" if (text, expected) in words else "synonym"
        for i in range(args.n):
            path = os.path.join(workdir, f"{text.replace(' ', '_')}-{i:02d}.wav")
            samples.append((group, text, expected, path, speak(text, i, path)))
    for i in range(args.negatives):
        text = OUT_OF_LIST[i % len(OUT_OF_LIST)]
        path = os.path.join(workdir, f"oov-{text.replace(' ', '_')}-{i:02d}.wav")
        samples.append(("oov", text, None, path, speak(text, i, path)))
    for i in range(args.negatives):
        path = os.path.join(workdir, f"noise-{i:02d}.wav")
        how = noise(i, path)
        samples.append(("noise", how, None, path, how))
    print(f"{len(samples)} samples in {workdir}", file=sys.stderr)

    proc = None
    url = args.url
    if url is None:
        proc, url = start_service(args.python, args.service_arg, args.service_log)
    try:
        results = []
        for group, text, expected, path, how in samples:
            reply, ms = recognize(url.rstrip("/") + "/recognize", path)
            results.append({"group": group, "said": text, "expected": expected, "voice": how,
                            "heard": reply.get("text"), "phrase": reply.get("phrase"),
                            "confidence": float(reply.get("confidence") or 0.0), "ms": ms})
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    report(results, args.n, args.negatives)


def report(results: list[dict], n: int, negatives: int) -> None:
    print(f"| word | correct / {n} | wrong phrase | none | mean confidence | mean ms |")
    print("|---|---|---|---|---|---|")
    tot = {"ok": 0, "wrong": 0, "none": 0, "n": 0}
    for group in ("word", "synonym"):
        said_order = []
        for r in results:
            if r["group"] == group and r["said"] not in said_order:
                said_order.append(r["said"])
        for said in said_order:
            rs = [r for r in results if r["said"] == said and r["group"] == group]
            ok = sum(r["phrase"] == r["expected"] for r in rs)
            none = sum(r["phrase"] is None for r in rs)
            wrong = len(rs) - ok - none
            conf = sum(r["confidence"] for r in rs) / len(rs)
            ms = sum(r["ms"] for r in rs) / len(rs)
            label = said if group == "word" else f'"{said}" (synonym of {rs[0]["expected"]})'
            print(f"| {label} | {ok} | {wrong} | {none} | {conf:.2f} | {ms:.0f} |")
            for k, v in (("ok", ok), ("wrong", wrong), ("none", none), ("n", len(rs))):
                tot[k] += v
    print(f"| **all** | {tot['ok']} / {tot['n']} | {tot['wrong']} | {tot['none']} | | |")
    print()
    print("| false-accept set | samples | got a phrase | phrases returned (confidence) |")
    print("|---|---|---|---|")
    for group, label in (("oov", "words not in the list"), ("noise", "silence / noise")):
        rs = [r for r in results if r["group"] == group]
        acc = [r for r in rs if r["phrase"] is not None]
        detail = ", ".join(f'{r["said"]}->{r["phrase"]} ({r["confidence"]:.2f})' for r in acc) or "-"
        print(f"| {label} | {len(rs)} | {len(acc)} | {detail} |")
    print()
    # Threshold sweep: the switch treats phrase with confidence < t as "not recognised".
    pos = [r for r in results if r["group"] in ("word", "synonym")]
    neg = [r for r in results if r["group"] in ("oov", "noise")]
    print("| threshold | correct accepted | wrong accepted | false accepts (negatives) |")
    print("|---|---|---|---|")
    for t in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        ok = sum(r["phrase"] == r["expected"] and r["confidence"] >= t for r in pos)
        wrong = sum(r["phrase"] is not None and r["phrase"] != r["expected"] and r["confidence"] >= t
                    for r in pos)
        fa = sum(r["phrase"] is not None and r["confidence"] >= t for r in neg)
        print(f"| {t:.1f} | {ok} / {len(pos)} | {wrong} | {fa} / {len(neg)} |")


if __name__ == "__main__":
    main()
