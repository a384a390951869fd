#!/usr/bin/env python3
"""pcap-pdus.py CAPTURE.pcapng [--port PORT] [--json]: split the iSCSI PDUs out of a capture.

Reassembles each TCP direction from tshark's raw payloads (no dissector involved: iSCSI framing is done here,
so PDUs Wireshark calls bogus are kept too), cuts the byte stream into whole PDUs (BHS + AHS + header digest +
data + padding + data digest) and prints one line per PDU:  stream dir opcode-name length hex-prefix.
Header/data digests are switched on after a login that negotiated HeaderDigest=CRC32C / DataDigest=CRC32C
(RFC 7143 13.1: digests start with the first PDU after the final Login Response).
With --json, prints a JSON array of {stream, dir, index, frame, opcode, name, hex, hdigest, ddigest}.
The target port is the one given with --port, else the one of the SYN's destination, else 3260.
Needs tshark (Debian: apt-get install -y tshark)."""
import json, subprocess, sys

OPCODES = {
    0x00: "NOP-Out", 0x01: "SCSI Command", 0x02: "Task Management Request", 0x03: "Login Request",
    0x04: "Text Request", 0x05: "SCSI Data-Out", 0x06: "Logout Request", 0x10: "SNACK Request",
    0x20: "NOP-In", 0x21: "SCSI Response", 0x22: "Task Management Response", 0x23: "Login Response",
    0x24: "Text Response", 0x25: "SCSI Data-In", 0x26: "Logout Response", 0x31: "R2T", 0x32: "Async Message",
    0x3F: "Reject",
}


def packets(path):
    out = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-E", "separator=;",
         "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
         "-e", "tcp.seq_raw", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.payload"],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split(";")
        if len(f) < 8 or not f[1]:
            continue
        yield {"frame": int(f[0]), "stream": int(f[1]), "sport": int(f[2]), "dport": int(f[3]),
               "seq": int(f[4]), "syn": f[5] in ("1", "True"), "ack": f[6] in ("1", "True"),
               "payload": bytes.fromhex(f[7].replace(":", "")) if f[7] else b""}


def split(path, port=None):
    pkts = list(packets(path))
    target_port = {}
    for p in pkts:  # the SYN (without ACK) goes to the target
        if p["syn"] and not p["ack"]:
            target_port[p["stream"]] = p["dport"]
    # per stream and direction: the byte stream, with the frame where each byte arrived
    flows = {}
    for p in pkts:
        tp = port or target_port.get(p["stream"], 3260)
        d = "i2t" if p["dport"] == tp else "t2i"
        fl = flows.setdefault((p["stream"], d), {"next": None, "buf": bytearray(), "frames": []})
        if p["syn"]:
            fl["next"] = (p["seq"] + 1) & 0xFFFFFFFF
            continue
        if not p["payload"]:
            continue
        if fl["next"] is None:
            fl["next"] = p["seq"]
        if p["seq"] != fl["next"]:
            continue  # retransmission or out-of-order: loopback captures have none worth keeping
        fl["buf"] += p["payload"]
        fl["frames"] += [p["frame"]] * len(p["payload"])
        fl["next"] = (p["seq"] + len(p["payload"])) & 0xFFFFFFFF
    # walk both directions of each stream in frame order so digests switch on at the right PDU
    result = []
    streams = sorted({s for s, _ in flows})
    for s in streams:
        cursors = {d: 0 for d in ("i2t", "t2i") if (s, d) in flows}
        digests = {"h": False, "d": False}
        pending = {"h": False, "d": False}
        login_done = False
        while True:
            best = None
            for d, pos in cursors.items():
                fl = flows[(s, d)]
                if pos + 48 <= len(fl["buf"]):
                    fr = fl["frames"][pos]
                    if best is None or fr < best[2]:
                        best = (d, pos, fr)
            if best is None:
                break
            d, pos, fr = best
            buf = flows[(s, d)]["buf"]
            bhs = buf[pos:pos + 48]
            opcode = bhs[0] & 0x3F
            ahs = bhs[4] * 4
            dlen = int.from_bytes(bhs[5:8], "big")
            hd = 4 if digests["h"] else 0
            dd = 4 if digests["d"] and dlen else 0
            total = 48 + ahs + hd + ((dlen + 3) & ~3) + dd
            if pos + total > len(buf):
                break  # capture ended mid-PDU
            pdu = bytes(buf[pos:pos + total])
            cursors[d] = pos + total
            result.append({"stream": s, "dir": d, "index": len(result), "frame": fr, "opcode": opcode,
                           "name": OPCODES.get(opcode, f"opcode 0x{opcode:02x}"), "hex": pdu.hex(),
                           "hdigest": bool(hd), "ddigest": bool(dd)})
            if opcode in (0x03, 0x23):
                text = pdu[48 + ahs:48 + ahs + dlen].decode("latin-1")
                for kv in text.split("\0"):
                    if kv == "HeaderDigest=CRC32C":
                        pending["h"] = True
                    elif kv == "DataDigest=CRC32C":
                        pending["d"] = True
                    elif kv.startswith("HeaderDigest="):
                        pending["h"] = False
                    elif kv.startswith("DataDigest="):
                        pending["d"] = False
                transit, nsg = bhs[1] & 0x80, bhs[1] & 0x03
                if opcode == 0x23 and transit and nsg == 3 and not login_done:
                    login_done = True
                    digests = dict(pending)
    return result


def main():
    args = sys.argv[1:]
    port = None
    if "--port" in args:
        i = args.index("--port")
        port = int(args[i + 1])
        del args[i:i + 2]
    as_json = "--json" in args
    paths = [a for a in args if not a.startswith("--")]
    all_pdus = []
    for path in paths:
        for p in split(path, port):
            p["capture"] = path
            all_pdus.append(p)
    if as_json:
        json.dump(all_pdus, sys.stdout, indent=1)
        print()
        return
    for p in all_pdus:
        print(f"{p['capture']} s{p['stream']} #{p['frame']} {p['dir']} {p['name']:<24} "
              f"{len(p['hex']) // 2:>6} {p['hex'][:96]}")


if __name__ == "__main__":
    main()
