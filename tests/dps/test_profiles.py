"""The model profile table: every family reads exactly right by product id; precedence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from powermonitor.dps import LAYOUTS, all_profiles, attribution, interpret, profile_for
from powermonitor.models import Reading

from .families import TRUTHS, encode, families, family_id

TS = datetime(2026, 1, 1, tzinfo=UTC)
FAMILIES = families()


def read(dps: dict[str, Any], **kwargs: Any) -> Reading:
    return interpret(dps, device_id="dev", timestamp=TS, **kwargs)


def fields_of(row: dict[str, Any], reading: Reading) -> dict[str, float | None]:
    """The Reading field that holds each quantity the family reports."""
    out: dict[str, float | None] = {}
    for quantity, attr in (("power", "power_w"), ("current", "current_a"),
                           ("voltage", "voltage_v")):
        if quantity in row:
            out[quantity] = getattr(reading, attr)
    if "energy" in row:
        increment = row["energy"]["dp"] == 17  # add_ele: energy since the last report
        out["energy"] = reading.energy_increment_wh if increment else reading.energy_total_wh
    return out


def test_table_holds_every_family_and_product_id() -> None:
    profiles = all_profiles()
    assert [p.id for p in profiles] == [family_id(row) for row in FAMILIES]
    for row in FAMILIES:
        for product_id in row["product_ids"]:
            profile = profile_for(product_id)
            assert profile is not None and profile.id == family_id(row)
    assert "tuya-local" in attribution() and "MIT" in attribution()


@pytest.mark.parametrize("truth", TRUTHS, ids=["89W", "1500W", "idle"])
@pytest.mark.parametrize("row", FAMILIES, ids=family_id)
def test_every_family_reads_exactly_by_product_id(row: dict[str, Any], truth: dict[str, float]
                                                  ) -> None:
    dps = encode(row, truth)
    if row["product_ids"]:
        reading = read(dps, product_id=row["product_ids"][-1])
        assert reading.source == f"profile {family_id(row)}"
    else:  # no product id known: the profile's mapping, as a cloud mapping would give it
        profile = next(p for p in all_profiles() if p.id == family_id(row))
        reading = read(dps, mapping=profile.mapping)
    expected = {q: truth[q] for q in fields_of(row, reading)}
    assert fields_of(row, reading) == expected
    assert reading.notes == ()
    assert reading.switches == {str(dp): True for dp in row["switch_dps"]}


@pytest.mark.parametrize("truth", TRUTHS, ids=["89W", "1500W", "idle"])
@pytest.mark.parametrize("row", FAMILIES, ids=family_id)
def test_unknown_model_reads_right_or_null_never_wrong(row: dict[str, Any],
                                                       truth: dict[str, float]) -> None:
    reading = read(encode(row, truth))  # no product id, no mapping: a guess at most
    assert reading.source.startswith(("guess", "none"))
    for quantity, value in fields_of(row, reading).items():
        assert value is None or value == truth[quantity], (quantity, value, reading.notes)
    if reading.power_w is None and "power" in row and reading.source != "none":
        assert reading.notes, "an unshown power must say why"


def test_common_families_still_read_by_guess() -> None:
    """The usual socket layouts keep reading without a product id (physics confirms them)."""
    for source in ("smartplugv2.yaml", "aubess_1gang_switch.yaml",
                   "cesmarthome_monitoring_smartplug.yaml", "tomzn_energy_meter.yaml"):
        row = next(r for r in FAMILIES if r["source"] == source)
        reading = read(encode(row, TRUTHS[0]))
        assert (reading.power_w, reading.voltage_v, reading.current_a) == (89.0, 230.1, 0.41)


def test_guess_refuses_what_physics_cannot_settle() -> None:
    row = next(r for r in FAMILIES if r["source"] == "atorch_dt20_energymeter.yaml")
    reading = read(encode(row, TRUTHS[0]))  # V/100 and W/100 where a cz guess says /10
    assert reading.source == "guess cz"
    # voltage alone would settle at /100, but power and current do not fit it: the layout is
    # in doubt, so nothing is shown, and the note names the DPs
    assert reading.power_w is None and reading.current_a is None and reading.voltage_v is None
    assert any("DP 19" in note and "DP 18" in note for note in reading.notes)


def test_mapping_wins_over_profile_and_profile_over_guess() -> None:
    row = next(r for r in FAMILIES if r["source"] == "kmc_powerstrip.yaml")  # W/1 on DP 103
    dps = encode(row, TRUTHS[0])
    product_id = row["product_ids"][0]
    assert read(dps, product_id=product_id).power_w == 89.0
    mapped = read(dps, product_id=product_id, mapping=LAYOUTS["cz"])
    assert mapped.source == "mapping cz" and mapped.power_w is None  # DP 19 is not there
    assert read(dps, product_id="not-a-known-id").source == "none"


def test_phase_blob_of_another_length_is_unknown_not_misread() -> None:
    row = next(r for r in FAMILIES if r["source"] == "tongou_sa1_wifi_energy_meter.yaml")
    dps = encode(row, TRUTHS[0])
    dps["6"] = "AAECAwQFBgcICQ=="  # 10 bytes where the family sends 8
    reading = read(dps, product_id=row["product_ids"][0])
    assert reading.power_w is None and reading.voltage_v is None and reading.current_a is None
    assert any("DP 6" in note and "10 bytes" in note for note in reading.notes)
    assert reading.energy_total_wh == 2000.0
