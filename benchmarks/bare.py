"""The limit: the bare protocol libraries reading what the drivers read, nothing more.

One function per protocol, each reading one device with the same requests the
plc-integrity driver sends (same ranges, SZLs, block lists, uploads, Logix open
with tag upload, change-detection attributes, module info and config tags), but
with no guard, no pacing, no canonical encoding, hashing, store or comparison.
``read_fleet`` runs them over a thread pool; ``read_fleet_async`` runs the Modbus
part on pymodbus's asyncio client instead, to see whether asyncio beats threads.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pycomm3 import LogixDriver as PycommLogix
from pymodbus.client import AsyncModbusTcpClient, ModbusTcpClient
from snap7 import Block, Client as S7Client

from integrity.model import Device

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
logging.getLogger("snap7").setLevel(logging.CRITICAL)
logging.getLogger("pycomm3").setLevel(logging.CRITICAL)

_MODBUS_READS = {"holding": ("read_holding_registers", 125), "input": ("read_input_registers", 125),
                 "coils": ("read_coils", 2000), "discrete": ("read_discrete_inputs", 2000)}
_S7_LISTED = ("OB", "FB", "FC", "DB", "SDB", "SFC", "SFB")
_S7_READ = ("OB", "FB", "FC", "DB", "SDB")


def _modbus_chunks(device: Device) -> list[tuple[str, int, int, int]]:
    """(method, unit, start, count) of every range request the driver makes."""
    opts = device.options
    out = []
    for table, (method, chunk) in _MODBUS_READS.items():
        for rng in opts.ranges(table):
            for start in range(rng.start, rng.end + 1, chunk):
                out.append((method, opts.unit, start, min(chunk, rng.end - start + 1)))
    return out


def _check(reply: Any, what: str) -> Any:
    if reply.isError():
        raise RuntimeError(f"{what}: {reply}")
    return reply


def read_modbus(device: Device) -> int:
    """Identity (basic + regular categories, following more-follows) and every range."""
    client = ModbusTcpClient(device.host, port=device.port, timeout=device.timeout, retries=0)
    if not client.connect():
        raise RuntimeError(f"{device.name}: connect failed")
    n = 0
    try:
        if device.options.identity:
            for code in (1, 2):
                object_id = 0
                while True:
                    rr = _check(client.read_device_information(read_code=code, object_id=object_id,
                                                               device_id=device.options.unit),
                                device.name)
                    n += 1
                    if not rr.more_follows:
                        break
                    object_id = rr.next_object_id
        for method, unit, start, count in _modbus_chunks(device):
            _check(getattr(client, method)(start, count=count, device_id=unit), device.name)
            n += 1
    finally:
        client.close()
    return n


async def read_modbus_async(device: Device) -> int:
    client = AsyncModbusTcpClient(device.host, port=device.port, timeout=device.timeout, retries=0)
    if not await client.connect():
        raise RuntimeError(f"{device.name}: connect failed")
    n = 0
    try:
        if device.options.identity:
            for code in (1, 2):
                object_id = 0
                while True:
                    rr = _check(await client.read_device_information(
                        read_code=code, object_id=object_id, device_id=device.options.unit), device.name)
                    n += 1
                    if not rr.more_follows:
                        break
                    object_id = rr.next_object_id
        for method, unit, start, count in _modbus_chunks(device):
            _check(await getattr(client, method)(start, count=count, device_id=unit), device.name)
            n += 1
    finally:
        client.close()
    return n


def read_s7(device: Device, quick: bool = False) -> int:
    """SZL identity/protection/mode, block lists, then block info + full upload per
    block.  ``quick``, as the driver's quick check: nothing per block when the
    CPU vouches for its checksums in the SZL 0x0232 record (ken_rel 0x5656),
    else block info only."""
    opts = device.options
    client = S7Client()
    client.connect(device.host, opts.rack, opts.slot, device.port)
    n = 0
    per_block = True
    try:
        for szl_id, index in ((0x0011, 0), (0x001C, 0), (0x0232, 4), (0x0424, 0)):
            szl = client.read_szl(szl_id, index)
            n += 1
            if szl_id == 0x0232 and quick:
                # snap7's Data starts at LENTHDR: the record at 4, its ken_rel at 4 + 14
                per_block = bytes(szl.Data[18:20]) != b"\x56\x56"
        client.list_blocks()
        n += 1
        numbers = {}
        for name in _S7_LISTED:
            numbers[name] = client.list_blocks_of_type(getattr(Block, name), 4096)
            n += 1
        for name in _S7_READ if per_block else ():
            for number in numbers[name]:
                client.get_block_info(getattr(Block, name), number)
                n += 1
                if not quick:
                    client.full_upload(getattr(Block, name), number)
                    n += 1
    finally:
        client.disconnect()
    return n


def read_logix(device: Device, quick: bool = False) -> int:
    """open() with the full tag and UDT upload, the two change-detection attributes,
    module info per configured slot, and one read of the configured config tags.
    ``quick``: open without the tag upload and the two attributes only, as the
    driver's quick check on a controller with change detection."""
    opts = device.options
    tail = opts.route if opts.route else str(opts.slot)
    plc = PycommLogix(f"{device.host}:{device.port}/{tail}", init_tags=not quick,
                      init_program_tags=not quick)
    plc.socket_timeout = device.timeout
    if not plc.open():
        raise RuntimeError(f"{device.name}: open failed")
    try:
        for attribute in (0x1B, 0x1C):
            tag = plc.generic_message(service=0x0E, class_code=0x8E, instance=1,
                                      attribute=attribute, connected=True)
            if tag.error:
                raise RuntimeError(f"{device.name}: {tag.error}")
        if quick:
            return 1
        for slot in opts.modules:
            plc.get_module_info(slot)
        names = sorted({t for entry in opts.config_tags
                        for t in (fnmatch.filter(plc.tags, entry) if any(c in entry for c in "*?[")
                                  else [entry])})
        if names:
            plc.read(*names)
    finally:
        plc.close()
    return 1


READERS: dict[str, Callable[[Device], int]] = {"modbus": read_modbus, "s7": read_s7,
                                               "logix": read_logix}


def read_device(device: Device, quick: bool = False) -> int:
    """One device as the driver's deep check reads it, or its quick check.
    Modbus offers no cheaper signal: its quick check reads everything."""
    if device.protocol == "modbus":
        return read_modbus(device)
    return READERS[device.protocol](device, quick)  # type: ignore[call-arg]


def read_fleet(devices: list[Device], concurrency: int, quick: bool = False) -> None:
    """Every device once, ``concurrency`` at a time, on threads (like the sweep)."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bare") as pool:
        for _ in pool.map(lambda d: read_device(d, quick), devices):
            pass


def read_fleet_async(devices: list[Device], concurrency: int, quick: bool = False) -> None:
    """Modbus devices on one asyncio loop (pymodbus's async client), the others on
    threads from the same loop, ``concurrency`` at a time overall."""
    async def run() -> None:
        sem = asyncio.Semaphore(concurrency)
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bare-async")

        async def one(device: Device) -> None:
            async with sem:
                if device.protocol == "modbus":
                    await read_modbus_async(device)
                else:
                    await loop.run_in_executor(pool, read_device, device, quick)

        try:
            await asyncio.gather(*(one(d) for d in devices))
        finally:
            pool.shutdown()

    asyncio.run(run())
