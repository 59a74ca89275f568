"""Bundled PLC and drive simulators: real servers on loopback.

They serve device images (files under ``images/``), accept writes as a real
device would (tests and the demo play the attacker through them), and record
every request they receive so tests can prove the checker only read.
"""
