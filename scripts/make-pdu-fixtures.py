#!/usr/bin/env python3
"""make-pdu-fixtures.py: regenerate test/fixtures/pdus.ts and test/fixtures/pdus/*.ts (one file per PDU family)
from the captures in test/fixtures/captures/.

The captures are libiscsi (iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-test-cu), qemu-io and
scripts/mini-initiator.py sessions against Debian's tgt, recorded with dumpcap on the loopback interface
(how each was made: test/fixtures/captures/README.md). The SELECT table below names one PDU per fixture by capture
file and frame number; scripts/pcap-pdus.py cuts the PDUs out of the TCP streams, this script decodes the BHS
fields into a comment above each fixture and writes the whole PDU (BHS + AHS + digests + data + padding) as hex.
usage: python3 scripts/make-pdu-fixtures.py [OUT_DIR]   (default test/fixtures: writes pdus.ts and pdus/)"""
import importlib.util, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CAPS = os.path.join(ROOT, "test", "fixtures", "captures")
spec = importlib.util.spec_from_file_location("pcap_pdus", os.path.join(HERE, "pcap-pdus.py"))
pcap_pdus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pcap_pdus)

# (fixture name, capture file, frame number of the PDU's first byte, note)
SELECT = [
    # --- discovery session (iscsi-ls -s): login straight into the operational stage, SendTargets, logout
    ("login-request-discovery", "tgt-iscsi-ls-s", 4,
     "Login Request of a discovery session, no authentication: CSG=1 (operational) -> NSG=3 (full feature), T=1"),
    ("login-response-discovery", "tgt-iscsi-ls-s", 6,
     "Login Response accepting the discovery session (status 0/0) with tgt's negotiated keys"),
    ("text-request-sendtargets", "tgt-iscsi-ls-s", 8, "Text Request SendTargets=All (discovery session)"),
    ("text-response-sendtargets", "tgt-iscsi-ls-s", 9, "Text Response: TargetName and TargetAddress"),
    ("logout-request-discovery", "tgt-iscsi-ls-s", 38, "Logout Request, reason 0 (close the session)"),
    ("logout-response-discovery", "tgt-iscsi-ls-s", 39, "Logout Response, response 0 (closed successfully)"),
    ("scsi-command-report-luns", "tgt-iscsi-ls-s", 17, "SCSI Command REPORT LUNS (0xa0), LUN 0, read 16 bytes"),
    ("data-in-report-luns", "tgt-iscsi-ls-s", 18,
     "Data-In with F and S (status GOOD in the PDU): REPORT LUNS data, LUN list length 16 (LUN 0 and 1)"),
    # --- normal session (iscsi-inq)
    ("login-request-normal", "tgt-iscsi-inq", 4,
     "Login Request of a normal session (TargetName, SessionType=Normal), operational stage only, T=1 NSG=3"),
    ("login-response-normal", "tgt-iscsi-inq", 6, "Login Response: success, TSIH assigned, operational keys"),
    ("scsi-command-test-unit-ready", "tgt-iscsi-inq", 8, "SCSI Command TEST UNIT READY (0x00), no data, F only"),
    ("scsi-response-check-condition-unit-attention", "tgt-iscsi-inq", 9,
     "SCSI Response CHECK CONDITION: sense data segment (2-byte length + fixed sense), UNIT ATTENTION 06/29/xx"),
    ("scsi-response-good", "tgt-iscsi-inq", 11, "SCSI Response GOOD, no data segment"),
    ("scsi-command-inquiry", "tgt-iscsi-inq", 12, "SCSI Command INQUIRY (0x12) standard data, allocation length 64"),
    ("data-in-inquiry", "tgt-iscsi-inq", 13, "Data-In with F and S, status GOOD: 64 bytes of standard INQUIRY data"),
    ("logout-request-normal", "tgt-iscsi-inq", 16, "Logout Request closing a normal session"),
    ("logout-response-normal", "tgt-iscsi-inq", 17, "Logout Response, Time2Wait/Time2Retain"),
    # --- READ CAPACITY(16)
    ("scsi-command-read-capacity16", "tgt-iscsi-readcapacity16", 12,
     "SCSI Command SERVICE ACTION IN(16) / READ CAPACITY(16) (0x9e/0x10), allocation length 32"),
    ("data-in-read-capacity16", "tgt-iscsi-readcapacity16", 13,
     "Data-In with F and S: READ CAPACITY(16) data, last LBA 524287, block length 512 (256 MiB LUN)"),
    # --- qemu-io write -P 0xab 0 4k; read -P 0xab 0 4k
    ("scsi-command-mode-sense6", "tgt-qemu-io-write-read-4k", 16,
     "SCSI Command MODE SENSE(6) (0x1a) all pages (0x3f), allocation length 255"),
    ("data-in-mode-sense6-underflow", "tgt-qemu-io-write-read-4k", 17,
     "Data-In with F, U (residual underflow) and S: 98 bytes of mode data for a 255-byte request"),
    ("scsi-command-write10-immediate", "tgt-qemu-io-write-read-4k", 30,
     "SCSI Command WRITE(10) (0x2a) LBA 0, 8 blocks, 4096 bytes carried as immediate data (F W, EDTL 4096)"),
    ("scsi-response-write10-good", "tgt-qemu-io-write-read-4k", 33, "SCSI Response GOOD for the WRITE(10)"),
    ("scsi-command-read10", "tgt-qemu-io-write-read-4k", 34, "SCSI Command READ(10) (0x28) LBA 0, 8 blocks (F R, EDTL 4096)"),
    ("data-in-read10-4k", "tgt-qemu-io-write-read-4k", 36,
     "Data-In with F and S: the 4096 bytes of 0xab written before"),
    ("scsi-command-synchronize-cache10", "tgt-qemu-io-write-read-4k", 37,
     "SCSI Command SYNCHRONIZE CACHE(10) (0x35), whole LUN"),
    # --- tgt with InitialR2T=Yes ImmediateData=No: write 1 KiB at 512 -> R2T + solicited Data-Out
    ("scsi-command-write10-no-immediate", "tgt-qemu-io-write-r2t", 30,
     "SCSI Command WRITE(10) LBA 1, 2 blocks, no data (ImmediateData=No, InitialR2T=Yes): F W, EDTL 1024"),
    ("r2t", "tgt-qemu-io-write-r2t", 31,
     "R2T: R2TSN 0, buffer offset 0, desired data transfer length 1024, target transfer tag chosen by tgt"),
    ("data-out-solicited", "tgt-qemu-io-write-r2t", 32,
     "Data-Out answering the R2T (TTT echoed), F, DataSN 0, offset 0, 1024 bytes of 0xcd"),
    ("scsi-response-write10-after-r2t", "tgt-qemu-io-write-r2t", 35, "SCSI Response GOOD after the solicited data"),
    # --- tgt with InitialR2T=No ImmediateData=No: unsolicited Data-Out
    ("scsi-command-write10-unsolicited-follows", "tgt-qemu-io-write-unsolicited-data-out", 30,
     "SCSI Command WRITE(10) LBA 8, 1 block, W without F: unsolicited Data-Out follows (InitialR2T=No)"),
    ("data-out-unsolicited", "tgt-qemu-io-write-unsolicited-data-out", 31,
     "Unsolicited Data-Out: TTT 0xffffffff, F, DataSN 0, offset 0, 512 bytes of 0x5a"),
    # --- NOPs (tgt nop_interval=2; qemu pings every 5 s)
    ("nop-in-target-ping", "tgt-qemu-io-nop", 31,
     "NOP-In sent by the target on its own: ITT 0xffffffff, TTT set (asks for an answer), StatSN not advanced"),
    ("nop-out-answer-to-target", "tgt-qemu-io-nop", 33,
     "NOP-Out answering the target's ping: immediate, ITT 0xffffffff, TTT echoed"),
    ("nop-out-initiator-ping", "tgt-qemu-io-nop", 38,
     "NOP-Out ping from the initiator (qemu): not immediate, ITT set, TTT 0xffffffff, no data"),
    ("nop-in-answer-to-initiator", "tgt-qemu-io-nop", 40, "NOP-In answering the ping: ITT echoed, TTT 0xffffffff"),
    # --- scripts/mini-initiator.py (MaxRecvDataSegmentLength=512)
    ("data-in-no-status-first", "tgt-mini-initiator", 11,
     "Data-In without F and S: the first 512 bytes of a 1 KiB READ(10) (initiator MaxRecvDataSegmentLength=512)"),
    ("data-in-status-last", "tgt-mini-initiator", 12,
     "Data-In with F and S closing the READ: DataSN 1, buffer offset 512, status GOOD"),
    ("nop-out-ping-with-data", "tgt-mini-initiator", 14,
     "NOP-Out ping, immediate, ITT set, 8 bytes of data 'lab-ping' the target must echo"),
    ("nop-in-echo-with-data", "tgt-mini-initiator", 15, "NOP-In echoing the ping data"),
    ("task-management-abort-task", "tgt-mini-initiator", 16,
     "Task Management Function Request ABORT TASK (function 1), immediate, for RTT 0x0badbeef which does not exist"),
    ("task-management-response-no-task", "tgt-mini-initiator", 17,
     "Task Management Function Response: response 1 (task does not exist)"),
    # --- CHECK CONDITION: READ(10) past the last LBA (iscsi-test-cu -t SCSI.Read10.BeyondEol)
    ("scsi-command-read10-beyond-eol", "tgt-read10-beyond-eol", 46,
     "SCSI Command READ(10) LBA 0x8000 (one past the end of a 16 MiB LUN), 1 block"),
    ("scsi-response-check-condition-lba-out-of-range", "tgt-read10-beyond-eol", 47,
     "SCSI Response CHECK CONDITION with U (residual 512): ILLEGAL REQUEST, LBA OUT OF RANGE (05/21/00)"),
    # --- header digest (iscsi-inq ...?header_digest=crc32c, tgt HeaderDigest=CRC32C,None)
    ("login-request-header-digest", "tgt-iscsi-inq-header-digest", 4,
     "Login Request offering HeaderDigest=CRC32C"),
    ("login-response-header-digest", "tgt-iscsi-inq-header-digest", 6,
     "Login Response choosing HeaderDigest=CRC32C: every later PDU carries a 4-byte CRC32C after the BHS"),
    ("scsi-command-inquiry-header-digest", "tgt-iscsi-inq-header-digest", 12,
     "SCSI Command INQUIRY followed by its header digest (CRC32C of the 48-byte BHS, little-endian)"),
    ("data-in-inquiry-header-digest", "tgt-iscsi-inq-header-digest", 13,
     "Data-In with header digest between the BHS and the data segment"),
    # --- CHAP (tgt account labuser/labsecret123; mutual: labuser2/labsecret456, target tgtuser/tgtsecret789)
    ("login-request-chap-security", "tgt-iscsi-inq-chap", 4,
     "Login Request, security stage (CSG=0 -> NSG=1, T=1): AuthMethod=CHAP,None"),
    ("login-response-chap-authmethod", "tgt-iscsi-inq-chap", 6,
     "Login Response, security stage, T=0: AuthMethod=CHAP"),
    ("login-request-chap-a", "tgt-iscsi-inq-chap", 8, "Login Request CHAP_A=5 (MD5), T=0"),
    ("login-response-chap-challenge", "tgt-iscsi-inq-chap", 9, "Login Response CHAP_A=5, CHAP_I, CHAP_C (challenge)"),
    ("login-request-chap-response", "tgt-iscsi-inq-chap", 10,
     "Login Request CHAP_N=labuser, CHAP_R=MD5(CHAP_I || 'labsecret123' || CHAP_C), T=1 NSG=1"),
    ("login-response-chap-accepted", "tgt-iscsi-inq-chap", 11,
     "Login Response: security stage done, T=1 CSG=0 NSG=1, no data"),
    ("login-request-after-chap-operational", "tgt-iscsi-inq-chap", 12,
     "Login Request, operational stage after CHAP (CSG=1 -> NSG=3)"),
    ("login-response-chap-wrong-secret", "tgt-iscsi-inq-chap-wrong-secret", 11,
     "Login Response status class 2 detail 1: authentication failure (wrong CHAP secret)"),
    ("login-request-mutual-chap", "tgt-iscsi-inq-mutual-chap", 10,
     "Login Request CHAP_N=labuser2, CHAP_R, and the initiator's own CHAP_I/CHAP_C for the target (mutual CHAP)"),
    ("login-response-mutual-chap", "tgt-iscsi-inq-mutual-chap", 11,
     "Login Response with the target's CHAP_N=tgtuser and CHAP_R=MD5(CHAP_I || 'tgtsecret789' || CHAP_C)"),
]

OP = pcap_pdus.OPCODES
SCSI_OPS = {0x00: "TEST UNIT READY", 0x12: "INQUIRY", 0x1A: "MODE SENSE(6)", 0x25: "READ CAPACITY(10)",
            0x28: "READ(10)", 0x2A: "WRITE(10)", 0x35: "SYNCHRONIZE CACHE(10)", 0x5E: "PERSISTENT RESERVE IN",
            0x88: "READ(16)", 0x8A: "WRITE(16)", 0x9E: "SERVICE ACTION IN(16)", 0xA0: "REPORT LUNS",
            0xA3: "MAINTENANCE IN"}
SENSE_KEYS = ["NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR", "ILLEGAL REQUEST",
              "UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED",
              "ABORTED COMMAND", "0x0c", "VOLUME OVERFLOW", "MISCOMPARE", "0x0f"]


def u32(b, o): return struct.unpack(">I", b[o:o + 4])[0]
def u16(b, o): return struct.unpack(">H", b[o:o + 2])[0]
def x32(b, o): return f"0x{u32(b, o):08x}"


def describe(b, hd):
    """Comment lines naming the BHS fields (RFC 7143 chapter 11) and the data segment."""
    op, fl = b[0] & 0x3F, b[1]
    ahs, dlen = b[4] * 4, int.from_bytes(b[5:8], "big")
    L = [f"opcode 0x{op:02x} {OP.get(op, '?')}{' (I: immediate)' if b[0] & 0x40 else ''}, flags 0x{fl:02x}, "
         f"TotalAHSLength {b[4]}, DataSegmentLength {dlen}"]
    lun = f"LUN {b[8:16].hex()}"
    itt = f"ITT {x32(b, 16)}"
    sns = lambda: f"StatSN {u32(b, 24)}, ExpCmdSN {u32(b, 28)}, MaxCmdSN {u32(b, 32)}"
    if op == 0x01:
        f = [n for m, n in ((0x80, "F"), (0x40, "R"), (0x20, "W")) if fl & m]
        cdb = b[32:48]
        name = SCSI_OPS.get(cdb[0], f"0x{cdb[0]:02x}")
        L.append(f"flags {'|'.join(f) or '-'} ATTR {fl & 7}, {lun}, {itt}, ExpectedDataTransferLength {u32(b, 20)}")
        L.append(f"CmdSN {u32(b, 24)}, ExpStatSN {u32(b, 28)}, CDB {cdb.hex()} ({name})")
    elif op == 0x21:
        f = [n for m, n in ((0x80, "F"), (0x10, "o"), (0x08, "u"), (0x04, "O"), (0x02, "U")) if fl & m]
        L.append(f"flags {'|'.join(f)}, Response 0x{b[2]:02x}, Status 0x{b[3]:02x}, {itt}, SNACK tag {x32(b, 20)}")
        L.append(f"{sns()}, ExpDataSN {u32(b, 36)}, BidiReadResidual {u32(b, 40)}, ResidualCount {u32(b, 44)}")
    elif op == 0x25:
        f = [n for m, n in ((0x80, "F"), (0x40, "A"), (0x04, "O"), (0x02, "U"), (0x01, "S")) if fl & m]
        L.append(f"flags {'|'.join(f) or '-'}, Status 0x{b[3]:02x}{'' if fl & 1 else ' (not valid: no S)'}, "
                 f"{lun}, {itt}, TTT {x32(b, 20)}")
        L.append(f"{sns()}, DataSN {u32(b, 36)}, BufferOffset {u32(b, 40)}, ResidualCount {u32(b, 44)}")
    elif op == 0x05:
        L.append(f"flags {'F' if fl & 0x80 else '-'}, {lun}, {itt}, TTT {x32(b, 20)}")
        L.append(f"ExpStatSN {u32(b, 28)}, DataSN {u32(b, 36)}, BufferOffset {u32(b, 40)}")
    elif op == 0x31:
        L.append(f"{lun}, {itt}, TTT {x32(b, 20)}, {sns()}")
        L.append(f"R2TSN {u32(b, 36)}, BufferOffset {u32(b, 40)}, DesiredDataTransferLength {u32(b, 44)}")
    elif op in (0x03, 0x23):
        stages = {0: "security", 1: "operational", 3: "full feature"}
        f = f"T={fl >> 7 & 1} C={fl >> 6 & 1} CSG={fl >> 2 & 3} ({stages.get(fl >> 2 & 3, '?')}) " \
            f"NSG={fl & 3} ({stages.get(fl & 3, '?')})"
        L.append(f"{f}, VersionMax {b[2]}, Version{'Min' if op == 3 else 'Active'} {b[3]}")
        L.append(f"ISID {b[8:14].hex()}, TSIH {u16(b, 14)}, {itt}")
        if op == 0x03:
            L.append(f"CID {u16(b, 20)}, CmdSN {u32(b, 24)}, ExpStatSN {u32(b, 28)}")
        else:
            L.append(f"{sns()}, Status-Class {b[36]}, Status-Detail {b[37]}")
    elif op in (0x04, 0x24):
        L.append(f"flags {'F' if fl & 0x80 else '-'}{' C' if fl & 0x40 else ''}, {lun}, {itt}, TTT {x32(b, 20)}")
        L.append(f"CmdSN {u32(b, 24)}, ExpStatSN {u32(b, 28)}" if op == 0x04 else sns())
    elif op in (0x00, 0x20):
        L.append(f"{lun}, {itt}, TTT {x32(b, 20)}")
        L.append(f"CmdSN {u32(b, 24)}, ExpStatSN {u32(b, 28)}" if op == 0x00 else sns())
    elif op == 0x06:
        L.append(f"ReasonCode {fl & 0x7F}, {itt}, CID {u16(b, 20)}, CmdSN {u32(b, 24)}, ExpStatSN {u32(b, 28)}")
    elif op == 0x26:
        L.append(f"Response {b[2]}, {itt}, {sns()}, Time2Wait {u16(b, 40)}, Time2Retain {u16(b, 42)}")
    elif op == 0x02:
        L.append(f"Function {fl & 0x7F}, {lun}, {itt}, ReferencedTaskTag {x32(b, 20)}")
        L.append(f"CmdSN {u32(b, 24)}, ExpStatSN {u32(b, 28)}, RefCmdSN {u32(b, 32)}, ExpDataSN {u32(b, 36)}")
    elif op == 0x22:
        L.append(f"Response {b[2]}, {itt}, {sns()}")
    off = 48 + ahs
    if hd:
        L.append(f"HeaderDigest (CRC32C, little-endian) {b[off:off + 4].hex()} at offset {off}")
        off += 4
    data = b[off:off + dlen]
    pad = (4 - dlen % 4) % 4
    if dlen:
        if op in (0x03, 0x23, 0x04, 0x24):
            keys = [k.decode("latin-1") for k in data.split(b"\0") if k]
            L.append(f"data ({dlen} bytes{f' + {pad} padding' if pad else ''}): text keys")
            L += [f"  {k}" for k in keys]
        elif op == 0x21:
            sl = u16(data, 0)
            s = data[2:2 + sl]
            if sl >= 14 and s[0] & 0x7F in (0x70, 0x71):
                L.append(f"data: SenseLength {sl}, fixed sense 0x{s[0]:02x}, key {s[2] & 0xF} "
                         f"({SENSE_KEYS[s[2] & 0xF]}), ASC 0x{s[12]:02x} ASCQ 0x{s[13]:02x}")
            else:
                L.append(f"data: SenseLength {sl}, sense {s.hex()}")
        else:
            uniq = set(data)
            what = f"all 0x{data[0]:02x}" if len(uniq) == 1 else f"starts {data[:16].hex()}"
            L.append(f"data ({dlen} bytes{f' + {pad} padding' if pad else ''}): {what}")
    return L


def ts_hex(h, hd_len):
    """The hex as concatenated literals: BHS (+ AHS/digest) on the first line, then 64 bytes a line."""
    first = (48 + hd_len) * 2
    parts = [h[:first]] + [h[i:i + 128] for i in range(first, len(h), 128)]
    return "\n      + ".join(f"'{p}'" for p in parts)


# One fixture file per PDU family (test/fixtures/pdus/FILE.ts), chosen by the fixture name's prefix; the first match wins.
FAMILIES = [
    ("login-chap", "loginChapPdus", "Login Request / Response of the CHAP security stage (RFC 7143 11.12, 12.1.3)",
     lambda n: n.startswith("login-") and "chap" in n),
    ("login", "loginPdus", "Login Request / Response without CHAP (RFC 7143 11.12, 11.13)", lambda n: n.startswith("login-")),
    ("text-logout", "textLogoutPdus", "Text Request / Response and Logout Request / Response (RFC 7143 11.10, 11.11, 11.14, 11.15)",
     lambda n: n.startswith(("text-", "logout-"))),
    ("scsi-command", "scsiCommandPdus", "SCSI Command (RFC 7143 11.3)", lambda n: n.startswith("scsi-command-")),
    ("scsi-response", "scsiResponsePdus", "SCSI Response (RFC 7143 11.4)", lambda n: n.startswith("scsi-response-")),
    ("data-in", "dataInPdus", "SCSI Data-In (RFC 7143 11.7)", lambda n: n.startswith("data-in-")),
    ("data-out-r2t", "dataOutR2tPdus", "SCSI Data-Out and R2T (RFC 7143 11.7, 11.8)", lambda n: n == "r2t" or n.startswith("data-out-")),
    ("nop-task-management", "nopTaskManagementPdus", "NOP-Out / NOP-In and Task Management Function Request / Response (RFC 7143 11.5, 11.6, 11.18, 11.19)",
     lambda n: n.startswith(("nop-", "task-management-"))),
]

GENERATED = """// GENERATED by scripts/make-pdu-fixtures.py from test/fixtures/captures/*.pcapng: do not edit by hand, change the
// SELECT table there and run `python3 scripts/make-pdu-fixtures.py`. How the captures were made:
// test/fixtures/captures/README.md."""


def family_of(name):
    for fam in FAMILIES:
        if fam[3](name):
            return fam
    sys.exit(f"{name}: no PDU family in FAMILIES matches the name")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "test", "fixtures")
    cache = {}
    entries = {fam[0]: [] for fam in FAMILIES}
    order = []
    for name, cap, frame, note in SELECT:
        if cap not in cache:
            cache[cap] = pcap_pdus.split(os.path.join(CAPS, cap + ".pcapng"))
        found = [p for p in cache[cap] if p["frame"] == frame]
        if len(found) != 1:
            sys.exit(f"{name}: {len(found)} PDUs start in {cap} frame {frame}")
        p = found[0]
        b = bytes.fromhex(p["hex"])
        hd = 4 if p["hdigest"] else 0
        lines = [f"  // {name} ({p['dir']}), {cap}.pcapng frame {frame}, {len(b)} bytes", f"  // {note}"]
        lines += [f"  //   {l}" for l in describe(b, hd)]
        lines.append("  {")
        lines.append(f"    name: '{name}',")
        lines.append(f"    dir: '{p['dir']}',")
        lines.append(f"    note: {ts_str(note)},")
        lines.append(f"    source: '{cap}.pcapng#{frame}',")
        if p["hdigest"]:
            lines.append("    headerDigest: true,")
        if p["ddigest"]:
            lines.append("    dataDigest: true,")
        lines.append(f"    hex: {ts_hex(p['hex'], hd + b[4] * 4)},")
        lines.append("  },")
        entries[family_of(name)[0]].append("\n".join(lines))
        order.append(name)
    os.makedirs(os.path.join(out, "pdus"), exist_ok=True)
    for file, const, title, _ in FAMILIES:
        header = f"""// Captured PDUs: {title}.
{GENERATED}

import type {{ PduFixture }} from './fixture.ts';

export const {const}: PduFixture[] = [
"""
        with open(os.path.join(out, "pdus", file + ".ts"), "w") as fh:
            fh.write(header + "\n\n".join(entries[file]) + "\n];\n")
    imports = "\n".join(f"import {{ {const} }} from './pdus/{file}.ts';" for file, const, _, _ in FAMILIES)
    spread = ", ".join(f"...{const}" for _, const, _, _ in FAMILIES)
    names = "\n".join(f"  '{n}'," for n in order)
    index = f"""// Real iSCSI PDUs recorded from libiscsi / qemu / scripts/mini-initiator.py sessions against Debian's tgt, one file
// per PDU family in test/fixtures/pdus/ (what a fixture holds: test/fixtures/pdus/fixture.ts).
{GENERATED}

import type {{ PduFixture }} from './pdus/fixture.ts';
{imports}

export type {{ PduFixture }} from './pdus/fixture.ts';

/** The SELECT table's order, capture by capture: the fuzzer's seeds (scripts/fuzz-seeds.ts) follow it. */
const CAPTURE_ORDER: readonly string[] = [
{names}
];

const byName = new Map<string, PduFixture>([{spread}].map((f) => [f.name, f]));

/** Every captured fixture, in capture order. */
export const pdus: PduFixture[] = CAPTURE_ORDER.map((name) => byName.get(name)!);

/** The fixture's bytes. */
export function pduBytes(f: PduFixture): Uint8Array {{
  return Uint8Array.from(Buffer.from(f.hex, 'hex'));
}}

/** The fixture called `name`; throws if there is none. */
export function pdu(name: string): PduFixture {{
  const f = byName.get(name);
  if (!f) throw new Error(`no PDU fixture named ${{name}}`);
  return f;
}}
"""
    with open(os.path.join(out, "pdus.ts"), "w") as fh:
        fh.write(index)
    print(f"wrote {len(order)} fixtures to {os.path.relpath(out, ROOT)}/pdus.ts and pdus/*.ts")


def ts_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


if __name__ == "__main__":
    main()
