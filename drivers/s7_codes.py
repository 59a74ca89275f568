"""S7 protocol constants shared by the driver's read-only guard and the passive watcher.

Values as public descriptions give them (Wireshark's s7comm and s7comm_plus
dissectors, python-snap7, the s7commplus package 0.3.0's ``protocol.py``).
No imports: the watcher uses this without loading snap7.
"""

from __future__ import annotations

S7_PROTOCOL_ID = 0x32
S7PLUS_PROTOCOL_ID = 0x72

# S7 header ROSCTR values
ROSCTR_JOB, ROSCTR_ACK, ROSCTR_ACK_DATA, ROSCTR_USERDATA = 0x01, 0x02, 0x03, 0x07

# Job function codes (the first parameter byte of a Job)
FUNCTIONS = {
    0x00: "cpu-services", 0x04: "read-var", 0x05: "write-var", 0x1A: "request-download",
    0x1B: "download-block", 0x1C: "download-ended", 0x1D: "start-upload", 0x1E: "upload",
    0x1F: "end-upload", 0x28: "pi-service", 0x29: "plc-stop", 0xF0: "setup-communication",
}

# PI services (function 0x28 / 0x29) by their ASCII name
PI_SERVICES = {
    "_INSE": "activate-block",     # make downloaded blocks active (end of a download)
    "_DELE": "delete-block",
    "P_PROGRAM": "plc-start",      # 0x28 P_PROGRAM starts; 0x29 P_PROGRAM stops
    "_MODU": "copy-ram-to-rom",
    "_GARB": "compress-memory",
    "_N_": "nc-service",
}

# Block types as they appear in file names ("_0800001P": OB 1, passive file system)
FILE_BLOCK_TYPES = {"08": "OB", "0A": "DB", "0B": "SDB", "0C": "FC", "0D": "SFC", "0E": "FB",
                    "0F": "SFB"}

# Memory areas of S7ANY addresses
AREAS = {0x03: "SYS", 0x05: "SYSFLAGS", 0x06: "ANAIN", 0x07: "ANAOUT", 0x1C: "C", 0x1D: "T",
         0x1E: "IEC-C", 0x1F: "IEC-T", 0x80: "P", 0x81: "I", 0x82: "Q", 0x83: "M", 0x84: "DB",
         0x85: "DI", 0x86: "L", 0x87: "V"}

# USERDATA function groups and the sub-functions that change a CPU
UD_GROUP_PROGRAMMER, UD_GROUP_CYCLIC, UD_GROUP_BLOCK, UD_GROUP_CPU = 0x1, 0x2, 0x3, 0x4
UD_GROUP_SECURITY, UD_GROUP_TIME = 0x5, 0x7
UD_TYPE_PUSH, UD_TYPE_REQUEST, UD_TYPE_RESPONSE = 0x0, 0x4, 0x8
# Programmer commands ("test and installation" functions) that write to the CPU.
# Monitoring (variable/block status, job lists) is reading.
UD_PROGRAMMER_CHANGES = {0x08: "modify-variable", 0x09: "force", 0x0C: "memory-reset",
                         0x0B: "exit-hold"}
UD_SECURITY_CHANGES = {0x01: "password", 0x02: "clear-password"}
UD_TIME_CHANGES = {0x02: "set-clock", 0x04: "set-clock"}

# S7CommPlus (S7-1200/1500), from the s7commplus package's FunctionCode
S7PLUS_OPCODE_REQUEST = 0x31
S7PLUS_FUNCTIONS = {
    0x04B1: "error", 0x04BB: "explore", 0x04CA: "create-object", 0x04D4: "delete-object",
    0x04F2: "set-variable", 0x04FC: "get-variable", 0x0506: "add-link", 0x051A: "remove-link",
    0x0524: "get-link", 0x052E: "notify", 0x0542: "set-multi-variables",
    0x054C: "get-multi-variables", 0x0556: "begin-sequence", 0x0560: "end-sequence",
    0x056B: "invoke", 0x057C: "set-var-substreamed", 0x0586: "get-var-substreamed",
    0x0590: "get-variables-address", 0x059A: "abort", 0x05A9: "error2", 0x05B3: "init-ssl",
}
# Functions that only read or keep a session going.
S7PLUS_READS = frozenset({0x04BB, 0x04FC, 0x0524, 0x052E, 0x054C, 0x0556, 0x0560, 0x0586,
                          0x0590, 0x059A, 0x04B1, 0x05A9, 0x0506, 0x051A})
