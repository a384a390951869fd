#!/usr/bin/env python3
"""mini-initiator.py HOST:PORT TARGET_IQN [LUN]: a tiny scripted iSCSI initiator, used only to record fixtures.

libiscsi always declares MaxRecvDataSegmentLength=262144, so a target answers every small READ with one Data-In
carrying the S bit. This script declares MaxRecvDataSegmentLength=512 and reads 1 KiB, which makes the target
split the data over two Data-In PDUs (the first without F and S). It also sends what libiscsi's tools do not:
a NOP-Out ping with data and an ABORT TASK for an unknown task.
Run it while tshark/dumpcap records the port; it prints each PDU it receives (opcode, flags, length).
RFC 7143 references: 11.12 Login Request, 11.3 SCSI Command, 11.7 Data-In, 11.18 NOP-Out,
11.5 Task Management Function Request, 11.14 Logout Request."""
import socket, struct, sys

host, port = sys.argv[1].rsplit(":", 1)
target = sys.argv[2]
lun = int(sys.argv[3]) if len(sys.argv) > 3 else 1
s = socket.create_connection((host, int(port)))
isid = bytes([0x80, 0x12, 0x34, 0x56, 0x00, 0x00])  # random-format ISID (RFC 7143 11.12.5)
itt = 0x1000
cmdsn = 1
expstatsn = 0


def recv_exact(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed")
        b += c
    return b


def recv_pdu():
    global expstatsn
    bhs = recv_exact(48)
    dlen = int.from_bytes(bhs[5:8], "big")
    data = recv_exact(bhs[4] * 4 + ((dlen + 3) & ~3))
    op = bhs[0] & 0x3F
    if op in (0x21, 0x23, 0x24, 0x26, 0x22, 0x20) or (op == 0x25 and bhs[1] & 0x01):
        statsn = struct.unpack(">I", bhs[24:28])[0]
        if not (op == 0x20 and struct.unpack(">I", bhs[20:24])[0] != 0xFFFFFFFF):
            expstatsn = (statsn + 1) & 0xFFFFFFFF
    print(f"recv opcode=0x{op:02x} flags=0x{bhs[1]:02x} dlen={dlen}")
    return bhs, data[:dlen] if bhs[4] == 0 else data


def send(bhs, data=b""):
    assert len(bhs) == 48
    bhs = bhs[:5] + len(data).to_bytes(3, "big") + bhs[8:]
    s.sendall(bhs + data + b"\0" * ((4 - len(data) % 4) % 4))


def lun_field(n):
    return struct.pack(">HHI", n & 0x3FFF, 0, 0)  # peripheral addressing, single level (SAM-5 4.7.3)


def text(*kv):
    return b"".join(k.encode() + b"\0" for k in kv)


# Login: straight to the operational stage and on to Full Feature Phase (T=1 CSG=1 NSG=3), no authentication
keys = text("InitiatorName=iqn.2026-11.lab.fixture:mini-initiator", f"TargetName={target}",
            "SessionType=Normal", "HeaderDigest=None", "DataDigest=None", "InitialR2T=Yes",
            "ImmediateData=Yes", "MaxBurstLength=262144", "FirstBurstLength=65536", "DefaultTime2Wait=2",
            "DefaultTime2Retain=0", "MaxOutstandingR2T=1", "ErrorRecoveryLevel=0", "IFMarker=No", "OFMarker=No",
            "MaxConnections=1", "MaxRecvDataSegmentLength=512", "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes")
send(struct.pack(">BBBB", 0x43, 0x87, 0, 0) + b"\0\0\0\0" + isid + struct.pack(">HIHHII", 0, itt, 0, 0, cmdsn, 0)
     + b"\0" * 16, keys)
bhs, data = recv_pdu()
assert bhs[0] & 0x3F == 0x23 and bhs[36] == 0, f"login failed: class {bhs[36]} detail {bhs[37]}"
tsih = struct.unpack(">H", bhs[14:16])[0]
itt += 1

# TEST UNIT READY first: it takes the unit attention (power on / reset) the new I_T nexus holds
send(struct.pack(">BBBB", 0x01, 0x80, 0, 0) + b"\0\0\0\0" + lun_field(lun)
     + struct.pack(">IIII", itt, 0, cmdsn, expstatsn) + b"\0" * 16)
cmdsn += 1
recv_pdu()
itt += 1

# READ(10) LBA 1, 2 blocks: 1 KiB through a 512-byte MaxRecvDataSegmentLength -> two Data-In PDUs
cdb = struct.pack(">BBIBHB", 0x28, 0, 1, 0, 2, 0) + b"\0" * 6
send(struct.pack(">BBBB", 0x01, 0xC1, 0, 0) + b"\0\0\0\0" + lun_field(lun)
     + struct.pack(">IIII", itt, 1024, cmdsn, expstatsn) + cdb)
cmdsn += 1
while True:
    bhs, data = recv_pdu()
    if bhs[0] & 0x3F == 0x21 or (bhs[0] & 0x3F == 0x25 and bhs[1] & 0x01):
        break
itt += 1

# NOP-Out ping (I bit set, so CmdSN does not advance) with 8 bytes of data the target must echo (RFC 7143 11.18)
send(struct.pack(">BBBB", 0x40, 0x80, 0, 0) + b"\0\0\0\0" + b"\0" * 8
     + struct.pack(">IIII", itt, 0xFFFFFFFF, cmdsn, expstatsn) + b"\0" * 16, b"lab-ping")
recv_pdu()
itt += 1

# ABORT TASK (function 1) naming a task that does not exist: the target answers "Task does not exist" (1)
send(struct.pack(">BBBB", 0x42, 0x81, 0, 0) + b"\0\0\0\0" + lun_field(lun)
     + struct.pack(">IIII", itt, 0x0BADBEEF, cmdsn, expstatsn) + struct.pack(">II", 0, 0) + b"\0" * 8)
recv_pdu()
itt += 1

# Logout: close the session (reason 0)
send(struct.pack(">BBBB", 0x46, 0x80, 0, 0) + b"\0\0\0\0" + b"\0" * 8
     + struct.pack(">IIII", itt, 0, cmdsn, expstatsn) + b"\0" * 16)
recv_pdu()
s.close()
