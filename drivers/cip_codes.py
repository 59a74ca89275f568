"""EtherNet/IP and CIP constants shared by the Logix guard and the passive watcher.

From the CIP specification's common services and Rockwell's public Logix
data-access manual (1756-PM020); no imports, so the watcher loads no pycomm3.
"""

from __future__ import annotations

ENIP_HEADER_SIZE = 24
ENIP_COMMANDS = {0x0000: "nop", 0x0004: "list-services", 0x0063: "list-identity",
                 0x0064: "list-interfaces", 0x0065: "register-session",
                 0x0066: "unregister-session", 0x006F: "send-rr-data", 0x0070: "send-unit-data"}
ENIP_SEND_RR_DATA, ENIP_SEND_UNIT_DATA = 0x006F, 0x0070
CPF_UNCONNECTED_DATA, CPF_CONNECTED_DATA = 0x00B2, 0x00B1

# Common services
GET_ATTRIBUTES_ALL, SET_ATTRIBUTES_ALL, GET_ATTRIBUTE_LIST, SET_ATTRIBUTE_LIST = 0x01, 0x02, 0x03, 0x04
RESET, START, STOP, CREATE, DELETE = 0x05, 0x06, 0x07, 0x08, 0x09
MULTIPLE_SERVICE_PACKET, GET_ATTRIBUTE_SINGLE, SET_ATTRIBUTE_SINGLE = 0x0A, 0x0E, 0x10
# Logix tag services (on a symbolic or Symbol-instance path)
READ_TAG, WRITE_TAG, READ_MODIFY_WRITE_TAG = 0x4C, 0x4D, 0x4E
READ_TAG_FRAGMENTED, WRITE_TAG_FRAGMENTED, GET_INSTANCE_ATTRIBUTE_LIST = 0x52, 0x53, 0x55
# Connection manager (class 0x06) services
UNCONNECTED_SEND, FORWARD_OPEN, LARGE_FORWARD_OPEN, FORWARD_CLOSE = 0x52, 0x54, 0x5B, 0x4E

CLASS_IDENTITY, CLASS_MESSAGE_ROUTER, CLASS_CONNECTION_MANAGER = 0x01, 0x02, 0x06
CLASS_SYMBOL, CLASS_TEMPLATE, CLASS_TIME, CLASS_CONTROLLER = 0x6B, 0x6C, 0x8B, 0x8E
CLASS_NAMES = {0x01: "identity", 0x02: "message-router", 0x06: "connection-manager",
               0x64: "controller-name", 0x68: "program", 0x69: "routine", 0x6A: "task",
               0x6B: "symbol", 0x6C: "template", 0x72: "port", 0x8B: "time", 0x8E: "controller",
               0xAC: "controller-state"}

# Services that change a controller's program objects during a download:
# Create/Delete on program, routine, task, symbol and template classes, and the
# object-specific services an engineering tool uses to stream code into them.
PROGRAM_CLASSES = frozenset({0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x70, 0x73})
