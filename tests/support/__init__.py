"""Test support shared by every test folder: real sites, CLI runners, loopback peers
and receivers.  Importable as ``support`` (pytest's ``pythonpath`` puts tests/ on
sys.path); fixtures stay in each folder's conftest.py and build on these."""
