"""latest_many (one transaction for a sweep) must agree with latest, device by device."""

from support.dbsql import one, sql

from integrity.errors import NoBaselineError, SignatureInvalidError


def test_latest_many_agrees_with_latest(three):
    store = three.store
    got = store.latest_many(["vfd-hoist", "vfd-trolley", "vfd-nobody"], three.trust)
    assert got["vfd-hoist"].id == store.latest("vfd-hoist", three.trust).id
    assert got["vfd-hoist"].sequence == 3
    assert got["vfd-trolley"].id == store.latest("vfd-trolley", three.trust).id
    assert isinstance(got["vfd-nobody"], NoBaselineError)


def test_latest_many_reports_a_tampered_device_and_keeps_the_others(three):
    sig = bytes(one(three.db, "SELECT signature FROM baselines WHERE device = 'vfd-hoist' "
                              "AND sequence = 3"))
    sql(three.db, "UPDATE baselines SET signature = ? WHERE device = 'vfd-hoist' AND sequence = 3",
        sig[:-1] + bytes([sig[-1] ^ 1]))
    got = three.store.latest_many(["vfd-hoist", "vfd-trolley"], three.trust)
    assert isinstance(got["vfd-hoist"], SignatureInvalidError)
    assert "vfd-hoist" in str(got["vfd-hoist"])
    assert got["vfd-trolley"].sequence == 1
