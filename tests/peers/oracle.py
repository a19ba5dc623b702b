"""Differential oracle: decodes frames with published peers, one JSON line per input line.

Input lines (stdin): `jbd BASIC_HEX CELLS_HEX` (whole reply frames),
`daly SOC8 MOS8 STATUS8` (the 8 data bytes of the 0x90, 0x93 and 0x94 answers, hex) or
`pylontech single|group|management|system FRAME` (a whole Pylon-ASCII reply without its `\r`) or
`jkpb RECORD` (a 300-byte JK-PB type-2 record, hex).
Peers: aiobmsble (BMS.jbd_bms, the JBD decoder Home Assistant's BMS_BLE uses) and dalybms
(python-daly-bms, its get_* decoders take the data bytes offline). Both decode offline: no
Bluetooth or serial port is opened. python-pylontech (pylontech.Pylontech) decodes a frame with
its own checksum check and construct formats, without opening its serial port. Each peer is
imported only when a line asks for it.
"""
import json
import sys



def jbd(basic_hex, cells_hex):
    from aiobmsble.bms.jbd_bms import BMS as JBD
    frame = bytes.fromhex(basic_hex)
    msg = frame[: 4 + frame[3]]  # header and data, as aiobmsble keeps it
    r = JBD._decode_data(JBD._FIELDS, msg)
    ctrl = 27 + 2 * r.get("temp_sensors", 0)
    if int.from_bytes(msg[ctrl : ctrl + 1], "big") & 0x80:
        r |= JBD._decode_data(JBD._FIELDS_D10, msg)
    temps = JBD._temp_values(msg, values=r.get("temp_sensors", 0), start=27, signed=False,
                             offset=2731, divider=10, types=JBD._TEMP_TYPES)
    cframe = bytes.fromhex(cells_hex)
    cells = JBD._cell_voltages(cframe[: 4 + cframe[3]], cells=cframe[3] // 2, start=4,
                               byteorder="big")
    return {
        "pack_voltage": r["voltage"],
        "pack_current": r["current"],
        "remaining_ah": r["cycle_charge"],
        "cycle_count": r["cycles"],
        "soc": r["battery_level"],
        "charge_fet": r["chrg_mosfet"],
        "discharge_fet": r["dischrg_mosfet"],
        "cell_count": r["cell_count"],
        "temperatures": [round(float(t), 1) for t in temps],
        "cell_voltages": cells,
    }


def daly(soc_hex, mos_hex, status_hex):
    from dalybms import DalyBMS
    d = DalyBMS()
    soc = d.get_soc(response_data=bytes.fromhex(soc_hex))
    mos = d.get_mosfet_status(response_data=bytes.fromhex(mos_hex))
    st = d.get_status(response_data=bytes.fromhex(status_hex))
    return {
        "pack_voltage": soc["total_voltage"],
        # dalybms: (raw - 30000) / 10, "negative=charging" (protocols.md §13.3)
        "current_raw_decode": soc["current"],
        "soc": soc["soc_percent"],
        "state": {"stationary": "idle"}.get(mos["mode"], mos["mode"]),
        "charge_fet": mos["charging_mosfet"],
        "discharge_fet": mos["discharging_mosfet"],
        "remaining_ah": mos["capacity_ah"],
        "cell_count": st["cells"],
        "cycle_count": st["cycles"],
    }


def module(m):
    return {
        "cells": [float(v) for v in m.CellVoltages],
        "temperature_bms": float(m.AverageBMSTemperature),
        "temperatures": [float(t) for t in m.GroupedCellsTemperatures],
        "current": float(m.Current),
        "voltage": float(m.Voltage),
        "remaining_ah": float(m.RemainingCapacity),
        "capacity_ah": float(m.TotalCapacity),
        "cycles": int(m.CycleNumber),
    }


def pylontech(kind, frame):
    from pylontech import Pylontech

    p = Pylontech.__new__(Pylontech)  # no serial port
    f = p._decode_frame(p._decode_hw_frame((frame + "\r").encode()))
    if kind == "single":
        return {"modules": [module(Pylontech.get_values_single_fmt.parse(f.info[1:]))]}
    if kind == "group":
        d = Pylontech.get_values_fmt.parse(f.info[1:])
        return {"modules": [module(m) for m in d.Module], "soc": float(d.StateOfCharge)}
    if kind == "system":
        s = Pylontech.system_parameters_fmt.parse(f.info[1:])
        return {k: float(v) for k, v in s.items() if not k.startswith("_")}
    m = Pylontech.management_info_fmt.parse(f.info[1:])
    return {
        "charge_voltage_limit": float(m.ChargeVoltageLimit),
        "discharge_voltage_limit": float(m.DischargeVoltageLimit),
        "charge_current_limit": float(m.ChargeCurrentLimit),
        "discharge_current_limit": float(m.DischargeCurrentLimit),
        "charge_enable": bool(m.status.ChargeEnable),
        "discharge_enable": bool(m.status.DischargeEnable),
        "request_full_charge": bool(m.status.FullChargeRequest),
        # python-pylontech names bits 5/4 the other way round (protocols.md §14.2).
        "bit5": bool(m.status.ChargeImmediately2),
        "bit4": bool(m.status.ChargeImmediately1),
    }


def jkpb(record_hex):
    """A JK-PB type-2 record: the RS-485 record is byte-identical to JK's Bluetooth JK02_32S
    record, which aiobmsble's Jikong decoder reads (firmware 15 layout, offset 0)."""
    import types
    from aiobmsble.bms.jikong_bms import BMS as JK
    data = bytes.fromhex(record_hex)
    r = JK._conv_data(data, 0, 15)
    temps = JK._temp_sensors(data, JK._temp_pos(types.SimpleNamespace(_sw_version=15)),
                             r.get("temp_sensors", 0))
    return {
        "pack_voltage": r["voltage"],
        "pack_current": r["current"],
        "soc": r["battery_level"],
        "remaining_ah": r["cycle_charge"],
        "capacity_ah_floor": r["design_capacity"],
        "cycle_count": r["cycles"],
        "soh": r["battery_health"],
        "charge_fet": r["chrg_mosfet"],
        "discharge_fet": r["dischrg_mosfet"],
        "balancing_current": r["balance_current"],
        "balancing": r["balancer"],
        "cell_count": r["cell_count"],
        "alarms_low16": r["problem_code"] & 0xFFFF,
        "temperatures": [float(t) for t in temps],
        "cell_voltages": JK._cell_voltages(data, cells=r["cell_count"], start=6,
                                           byteorder="little"),
    }


PEERS = {"jbd": jbd, "daly": daly, "pylontech": pylontech, "jkpb": jkpb}

for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    out = PEERS[parts[0]](*parts[1:])
    print(json.dumps(out), flush=True)
