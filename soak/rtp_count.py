#!/usr/bin/env python3
"""Count and validate the RTP a vpbx call sends to one UDP port (Python 3.11 stdlib only).

Listens on HOST:PORT (default 127.0.0.1) for --duration seconds, or until no packet arrived
for --idle seconds after the first one. Every datagram must be an RTP packet with:

  * version 2, no padding/extension games that make the header longer than the datagram;
  * payload type 0 (PCMU) or 8 (PCMA);
  * one constant SSRC;
  * sequence numbers increasing by exactly 1 (mod 2^16);
  * timestamps increasing by exactly --ts-step (160 = 20 ms of 8 kHz audio) per packet (mod 2^32);
  * the marker bit set on the first packet.

Prints human-readable counts, then one line `RTP_SUMMARY {json}`. Exit status:
  0  at least --min valid packets and no invariant broke;
  1  too few packets or an invariant broke;
  2  usage / bind error.

With --ready-file PATH the file is created once the socket is bound, so a caller can start the
call only after the listener is up.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

MAX_ERRORS_KEPT = 20


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--duration", type=float, default=15.0, help="hard listening limit in seconds (default 15)")
    p.add_argument("--idle", type=float, default=2.0, help="stop this long after the last packet (default 2)")
    p.add_argument("--min", type=int, default=50, dest="min_packets", help="minimum valid packets (default 50)")
    p.add_argument("--ts-step", type=int, default=160, help="expected timestamp increment (default 160)")
    p.add_argument("--payload-types", default="0,8", help="allowed payload types (default 0,8)")
    p.add_argument("--ready-file", type=Path, help="create this file once the socket is bound")
    p.add_argument("--quiet", action="store_true", help="only print the summary line")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    allowed_pts = {int(x) for x in args.payload_types.split(",") if x.strip()}

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        print(f"rtp_count: cannot bind {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    if args.ready_file:
        args.ready_file.write_text(f"{args.host}:{args.port}\n")

    total = 0          # datagrams received
    valid = 0          # datagrams passing every per-packet and sequence check
    errors: list[str] = []
    error_count = 0
    pts_seen: dict[int, int] = {}
    payload_sizes: dict[int, int] = {}
    sources: set[str] = set()
    ssrc: int | None = None
    prev_seq: int | None = None
    prev_ts: int | None = None
    first_marker: bool | None = None
    markers = 0
    t_first: float | None = None
    t_last: float | None = None

    def err(msg: str) -> None:
        nonlocal error_count
        error_count += 1
        if len(errors) < MAX_ERRORS_KEPT:
            errors.append(msg)

    start = time.monotonic()
    deadline = start + args.duration
    while True:
        now = time.monotonic()
        limit = deadline - now
        if t_last is not None:
            limit = min(limit, t_last + args.idle - now)
        if limit <= 0:
            break
        sock.settimeout(limit)
        try:
            data, addr = sock.recvfrom(65535)
        except socket.timeout:
            break
        now = time.monotonic()
        if t_first is None:
            t_first = now
        t_last = now
        total += 1
        sources.add(f"{addr[0]}:{addr[1]}")
        n = total  # 1-based packet index for messages

        if len(data) < 12:
            err(f"#{n}: {len(data)} bytes, shorter than an RTP header")
            continue
        b0, b1 = data[0], data[1]
        version = b0 >> 6
        padding = bool(b0 & 0x20)
        extension = bool(b0 & 0x10)
        cc = b0 & 0x0F
        marker = bool(b1 & 0x80)
        pt = b1 & 0x7F
        seq = int.from_bytes(data[2:4], "big")
        ts = int.from_bytes(data[4:8], "big")
        pkt_ssrc = int.from_bytes(data[8:12], "big")
        ok = True

        if version != 2:
            err(f"#{n}: RTP version {version}, expected 2")
            ok = False
        hdr_len = 12 + 4 * cc
        if extension and len(data) >= hdr_len + 4:
            hdr_len += 4 + 4 * int.from_bytes(data[hdr_len + 2 : hdr_len + 4], "big")
        if hdr_len > len(data):
            err(f"#{n}: header ({hdr_len} bytes) longer than the datagram ({len(data)})")
            ok = False
        payload_len = len(data) - hdr_len
        if padding and payload_len > 0:
            payload_len -= data[-1]
        payload_sizes[payload_len] = payload_sizes.get(payload_len, 0) + 1
        pts_seen[pt] = pts_seen.get(pt, 0) + 1
        if pt not in allowed_pts:
            err(f"#{n}: payload type {pt}, allowed {sorted(allowed_pts)}")
            ok = False
        if marker:
            markers += 1
        if ssrc is None:
            ssrc = pkt_ssrc
            first_marker = marker
            if not marker:
                err(f"#{n}: marker bit not set on the first packet")
                ok = False
        else:
            if pkt_ssrc != ssrc:
                err(f"#{n}: SSRC {pkt_ssrc:#010x} != first SSRC {ssrc:#010x}")
                ok = False
            if prev_seq is not None and seq != (prev_seq + 1) & 0xFFFF:
                err(f"#{n}: sequence {seq} after {prev_seq} (expected {(prev_seq + 1) & 0xFFFF})")
                ok = False
            if prev_ts is not None and ts != (prev_ts + args.ts_step) & 0xFFFFFFFF:
                err(
                    f"#{n}: timestamp {ts} after {prev_ts} "
                    f"(step {(ts - prev_ts) & 0xFFFFFFFF}, expected {args.ts_step})"
                )
                ok = False
        prev_seq, prev_ts = seq, ts
        if ok:
            valid += 1

    sock.close()
    span = (t_last - t_first) if (t_first is not None and t_last is not None) else 0.0
    passed = error_count == 0 and valid >= args.min_packets
    summary = {
        "port": args.port,
        "packets": total,
        "valid": valid,
        "invalid_or_out_of_order": error_count,
        "min": args.min_packets,
        "ssrc": ssrc,
        "payload_types": {str(k): v for k, v in sorted(pts_seen.items())},
        "payload_sizes": {str(k): v for k, v in sorted(payload_sizes.items())},
        "first_marker": first_marker,
        "markers": markers,
        "sources": sorted(sources),
        "span_s": round(span, 3),
        "errors": errors,
        "pass": passed,
    }
    if not args.quiet:
        print(f"rtp_count: {total} packet(s) on {args.host}:{args.port}, {valid} valid, {error_count} error(s)")
        if total:
            print(
                f"rtp_count: ssrc={ssrc:#010x} pts={summary['payload_types']} "
                f"payload_sizes={summary['payload_sizes']} span={span:.3f}s from {', '.join(sorted(sources))}"
            )
        for e in errors:
            print(f"rtp_count: ERROR {e}")
        if error_count > len(errors):
            print(f"rtp_count: ... {error_count - len(errors)} more error(s)")
        if valid < args.min_packets:
            print(f"rtp_count: too few valid packets: {valid} < {args.min_packets}")
    print("RTP_SUMMARY " + json.dumps(summary, sort_keys=True), flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
