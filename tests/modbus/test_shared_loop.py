"""Many Modbus simulators on one event loop (one thread): what a benchmark fleet
of thousands of drives needs.  Each serves its own image on its own port."""

from __future__ import annotations

import asyncio
import copy
import threading

from pymodbus.client import ModbusTcpClient

from simulators.modbus import ModbusSimulator


def test_simulators_share_one_loop_and_thread_and_stop_cleanly(basic_image) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    before = threading.active_count()
    sims = []
    try:
        for i in range(5):
            image = copy.deepcopy(basic_image)
            image["name"] = f"drive-{i}"
            image["holding"][1]["values"][0] = 100 + i
            sim = ModbusSimulator(image)
            sim.start_on(loop)
            sims.append(sim)
        assert threading.active_count() == before  # no thread per simulator
        for i, sim in enumerate(sims):
            client = ModbusTcpClient(sim.host, port=sim.port, timeout=2, retries=0)
            assert client.connect()
            start = basic_image["holding"][1]["start"]
            reply = client.read_holding_registers(start, count=1, device_id=sim.unit)
            client.close()
            assert reply.registers == [100 + i]
            assert [r.read for r in sim.requests] == [True]
    finally:
        for sim in sims:
            sim.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert not thread.is_alive()
