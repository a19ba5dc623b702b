//! The field catalogue: every field name a tool may write, with its unit, Home Assistant
//! classes and meaning. One source of truth for docs/readings.md (generated from
//! [`markdown`]) and for MQTT discovery.
//!
//! Home Assistant's rules (protocols.md §6.5): voltage/current/temperature/battery device
//! classes take `measurement` only; `energy` takes `total`/`total_increasing`; booleans
//! become binary_sensors of class `problem`; text has no state class.

/// The JSON shape of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A number.
    Number,
    /// An array of numbers, index 0 = item 1.
    Array,
    /// A boolean: an alarm bit (true = problem) where its device class is `problem`.
    Flag,
    /// A short string.
    Text,
}

/// What one field means.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Option<&'static str>,
    pub device_class: Option<&'static str>,
    pub state_class: Option<&'static str>,
    /// Sources that write it (`lp4`, `eg4-7e`, `eflex`, `pylon`, `bank`).
    pub sources: &'static [&'static str],
    pub description: &'static str,
}

const LP4: &[&str] = &["lp4"];
const E7: &[&str] = &["eg4-7e"];
const EF: &[&str] = &["eflex"];
const PYLON: &[&str] = &["pylon"];
const BANK: &[&str] = &["bank"];
const JBD: &[&str] = &["jbd"];
const DALY: &[&str] = &["daly"];
const JKPB: &[&str] = &["jk-pb"];
/// Fields readings-bank derives for every source's readings and for the bank.
const DERIVED: &[&str] = &[
    "lp4", "eg4-7e", "eflex", "pylon", "jbd", "daly", "bank", "jk-pb", "jk",
];

macro_rules! num {
    ($name:literal, $unit:expr, $dc:expr, $sc:expr, $src:expr, $desc:literal) => {
        FieldSpec {
            name: $name,
            kind: Kind::Number,
            unit: $unit,
            device_class: $dc,
            state_class: $sc,
            sources: $src,
            description: $desc,
        }
    };
}
macro_rules! arr {
    ($name:literal, $unit:expr, $dc:expr, $src:expr, $desc:literal) => {
        FieldSpec {
            name: $name,
            kind: Kind::Array,
            unit: $unit,
            device_class: $dc,
            state_class: Some("measurement"),
            sources: $src,
            description: $desc,
        }
    };
}
macro_rules! flag {
    ($name:literal, $src:expr, $desc:literal) => {
        FieldSpec {
            name: $name,
            kind: Kind::Flag,
            unit: None,
            device_class: Some("problem"),
            state_class: None,
            sources: $src,
            description: $desc,
        }
    };
}

const M: Option<&str> = Some("measurement");
const V: Option<&str> = Some("V");
const A: Option<&str> = Some("A");
const AH: Option<&str> = Some("Ah");
const PCT: Option<&str> = Some("%");
const DEG: Option<&str> = Some("°C");
const W: Option<&str> = Some("W");
const KWH: Option<&str> = Some("kWh");
const S: Option<&str> = Some("s");

/// Every field, in the order docs/readings.md lists them.
pub static CATALOG: &[FieldSpec] = &[
    num!(
        "pack_voltage",
        V,
        Some("voltage"),
        M,
        &["lp4", "eg4-7e", "eflex", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Pack (battery terminal) voltage."
    ),
    num!(
        "pack_current",
        A,
        Some("current"),
        M,
        &["lp4", "eg4-7e", "eflex", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Pack current; positive = charging, negative = discharging."
    ),
    num!("soc", PCT, Some("battery"), M, &["lp4", "eg4-7e", "eflex", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"], "State of charge."),
    num!("soh", PCT, None, M, &["lp4", "eg4-7e", "pylon", "jk-pb"], "State of health."),
    arr!(
        "cell_voltages",
        V,
        Some("voltage"),
        &["lp4", "eg4-7e", "eflex", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Cell voltages; index 0 is cell 1. Exactly as many as the pack reports."
    ),
    num!(
        "cell_voltage_min",
        V,
        Some("voltage"),
        M,
        &["lp4", "eg4-7e", "eflex", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Lowest cell voltage (derived from cell_voltages)."
    ),
    num!(
        "cell_voltage_max",
        V,
        Some("voltage"),
        M,
        &["lp4", "eg4-7e", "eflex", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Highest cell voltage (derived from cell_voltages)."
    ),
    num!(
        "cell_voltage_delta_mv",
        Some("mV"),
        Some("voltage"),
        M,
        &["lp4", "eg4-7e", "eflex", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Highest minus lowest cell voltage, in millivolts (derived)."
    ),
    num!(
        "cell_lowest",
        None,
        None,
        None,
        &["lp4", "eg4-7e", "eflex", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "1-based index of the lowest cell (the first, where several are equal)."
    ),
    num!(
        "cell_highest",
        None,
        None,
        None,
        &["lp4", "eg4-7e", "eflex", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "1-based index of the highest cell (the first, where several are equal)."
    ),
    num!(
        "cell_count",
        None,
        None,
        None,
        &["lp4", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Number of cells the pack reports."
    ),
    arr!(
        "temperatures",
        DEG,
        Some("temperature"),
        &["lp4", "eg4-7e", "eflex", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Cell/probe temperature sensors; index 0 is sensor 1. eflex: *inferred* (°C = raw − 40): the board sensor temperature_bms, already in °C, sits 1–3 °C above the coolest probe on all 700 sets of a real 13-battery capture."
    ),
    num!(
        "temperature_pcb",
        DEG,
        Some("temperature"),
        M,
        LP4,
        "BMS board (MOSFET) temperature."
    ),
    num!("remaining_ah", AH, None, M, &["lp4", "pylon", "jbd", "daly", "pylontech", "jk-pb"], "Remaining capacity."),
    num!("capacity_ah", AH, None, M, &["lp4", "eg4-7e", "jbd", "pylon", "pylontech", "jk-pb", "jk"], "Full-charge capacity. pylon: the capacity of the modules online (0x35F), else the installed (0x379) or design (0x354) capacity, for time estimates."),
    num!(
        "design_capacity_ah",
        AH,
        None,
        M,
        &["lp4", "pylon", "jk-pb"],
        "Design (nominal) capacity."
    ),
    num!(
        "max_charge_current",
        A,
        Some("current"),
        M,
        LP4,
        "Charge current limit the BMS requests."
    ),
    num!(
        "cycle_count",
        None,
        None,
        Some("total_increasing"),
        &["lp4", "eg4-7e", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Charge cycles."
    ),
    // Derived and inverter-link fields of readings.md's vocabulary: readings-bank adds the
    // power, energy and time estimates to every pack reading with a voltage and a current and
    // writes them for the bank; the limits come from the battery-to-inverter CAN link.
    num!(
        "power",
        W,
        Some("power"),
        M,
        DERIVED,
        "pack_voltage × pack_current; positive = charging, like the current."
    ),
    num!(
        "energy_charged_kwh",
        KWH,
        Some("energy"),
        Some("total_increasing"),
        DERIVED,
        "Energy charged into the battery, integrated from power over the readings' ts; never decreases."
    ),
    num!(
        "energy_discharged_kwh",
        KWH,
        Some("energy"),
        Some("total_increasing"),
        DERIVED,
        "Energy discharged from the battery, integrated from power over the readings' ts; never decreases."
    ),
    num!(
        "time_to_full",
        S,
        Some("duration"),
        M,
        DERIVED,
        "Estimated time to full at the present charge current; absent when it cannot be estimated."
    ),
    num!(
        "time_to_empty",
        S,
        Some("duration"),
        M,
        DERIVED,
        "Estimated time to empty at the present discharge current; absent when it cannot be estimated."
    ),
    num!(
        "charge_voltage_limit",
        V,
        Some("voltage"),
        M,
        &["pylon", "pylontech"],
        "Highest charge voltage the BMS allows the inverter."
    ),
    num!(
        "discharge_voltage_limit",
        V,
        Some("voltage"),
        M,
        &["pylon", "pylontech"],
        "Lowest discharge voltage the BMS allows the inverter."
    ),
    num!(
        "charge_current_limit",
        A,
        Some("current"),
        M,
        &["pylon", "eflex", "pylontech"],
        "Highest charge current the BMS allows (≥ 0). eflex: *inferred* from 0x10n bytes 14–15 (× 0.1 A): 30 A on packs at 84–88 % SOC and 0 on every pack at ≥ 98 % in a real 13-battery capture."
    ),
    num!(
        "discharge_current_limit",
        A,
        Some("current"),
        M,
        &["pylon", "eflex", "pylontech"],
        "Highest discharge current the BMS allows (≥ 0). eflex: *inferred* from 0x10n bytes 16–17 (× 0.1 A): 60 A on every pack of two real captures, next to the charge limit."
    ),
    num!(
        "packs_online",
        None,
        None,
        M,
        BANK,
        "Packs of the bank that reported within --stale and without an error."
    ),
    num!(
        "packs_total",
        None,
        None,
        M,
        BANK,
        "Packs known to belong to the bank (seplos3: the master's pack count, system block 0x2000 register 22). A reading with it is a whole bank's, never one pack's: readings-bank does not count it in a bank."
    ),
    // readings-bank's bank readings (source `bank`): where the bank's extreme cells are, its
    // temperature range, and whether any pack flags a problem.
    FieldSpec {
        name: "cell_lowest_device",
        kind: Kind::Text,
        unit: None,
        device_class: None,
        state_class: None,
        sources: BANK,
        description: "Device id of the pack that holds the bank's lowest cell (cell_lowest is its index in that pack).",
    },
    FieldSpec {
        name: "cell_highest_device",
        kind: Kind::Text,
        unit: None,
        device_class: None,
        state_class: None,
        sources: BANK,
        description: "Device id of the pack that holds the bank's highest cell (cell_highest is its index in that pack).",
    },
    flag!(
        "problem",
        BANK,
        "Some online pack of the bank has a warning_*, protection_* or alarm_* field on."
    ),
    FieldSpec {
        name: "problems",
        kind: Kind::Text,
        unit: None,
        device_class: None,
        state_class: None,
        sources: BANK,
        description: "The online packs' active warning_*, protection_* and alarm_* fields, each after its pack's device id (\"sim-t-02: warning cell over-voltage, …\"), or \"none\"; at most 255 characters.",
    },
    FieldSpec {
        name: "state",
        kind: Kind::Text,
        unit: None,
        device_class: Some("enum"),
        state_class: None,
        sources: &["lp4", "eg4-7e", "daly"],
        description: "Operating state: lp4 standby, charging, discharging, protect, charge_limit; eg4-7e idle, charging, discharging.",
    },
    num!("battery_number", None, None, None, EF, "Position of the battery in the chain (changes when batteries are re-ordered; the device id is the serial)."),
    num!("batteries_in_system", None, None, None, EF, "Batteries in the system, as the battery reports it."),
    num!("system_average_voltage", V, Some("voltage"), M, EF, "Average voltage of the whole system, as the battery reports it."),
    num!("pre_voltage", V, Some("voltage"), M, EF, "\"Pre-voltage\" (eflexcan2mqtt's name; likely the voltage before the contactor)."),
    num!("insulation_resistance", None, None, M, EF, "\"Insulation resistance\", raw (65535 in every capture seen: not measured?)."),
    num!("lifetime_discharge_energy", None, None, Some("total_increasing"), EF, "Lifetime discharge energy, raw counter (unit not known yet)."),
    // Gateways/real-capture block (issue 15): eFlex fields inferred from protocols.md §3.7,
    // and the 7E packs' tagged MOS and ambient sensors (§2.7).
    num!("temperature_bms", DEG, Some("temperature"), M, &["eflex", "pylontech"], "*Inferred*: a BMS board (or ambient) sensor in plain °C (0x10n byte 41); 1–3 °C above the coolest probe on all 700 sets of a real 13-battery capture."),
    FieldSpec {
        name: "charge_enable",
        kind: Kind::Flag,
        unit: None,
        device_class: None,
        state_class: None,
        sources: &["eflex", "pylon", "pylontech"],
        description: "The BMS allows charging; not a problem flag. pylon: 0x35C bit 7. eflex: *inferred* (0x10n byte 61): 1 on every pack with a charge limit above 0, 0 on every pack at 0, in a real 13-battery capture (the older 3-battery capture shows 0 beside a 50 A limit).",
    },
    num!("temperature_mos", DEG, Some("temperature"), M, &["eg4-7e", "jk-pb", "jk"], "MOSFET sensor (status group 0x05 word tagged 0x40/0x80 in its high byte)."),
    num!("temperature_env", DEG, Some("temperature"), M, E7, "Ambient sensor (status group 0x05 word tagged 0x20 in its high byte)."),
    num!(
        "balancing_mask",
        None,
        None,
        None,
        &["lp4", "jbd"],
        "Cells being balanced: bit n set = cell n+1."
    ),
    flag!("warning_pack_ov", &["lp4", "pylon", "daly", "pylontech"], "Warning: pack over-voltage."),
    flag!("warning_cell_ov", &["lp4", "daly", "pylontech"], "Warning: cell over-voltage."),
    flag!("warning_pack_uv", &["lp4", "pylon", "daly", "pylontech"], "Warning: pack under-voltage."),
    flag!("warning_cell_uv", &["lp4", "daly", "pylontech"], "Warning: cell under-voltage."),
    flag!("warning_charge_oc", &["lp4", "pylon", "daly", "pylontech"], "Warning: charge over-current."),
    flag!(
        "warning_discharge_oc",
        &["lp4", "pylon", "daly", "pylontech"],
        "Warning: discharge over-current."
    ),
    flag!(
        "warning_ambient_temp",
        LP4,
        "Warning: abnormal ambient temperature."
    ),
    flag!("warning_mos_ot", LP4, "Warning: MOSFET over-temperature."),
    flag!(
        "warning_charge_ot",
        &["lp4", "pylon", "daly"],
        "Warning: charge over-temperature."
    ),
    flag!(
        "warning_discharge_ot",
        &["lp4", "daly"],
        "Warning: discharge over-temperature."
    ),
    flag!(
        "warning_charge_ut",
        &["lp4", "pylon", "daly"],
        "Warning: charge under-temperature."
    ),
    flag!(
        "warning_discharge_ut",
        &["lp4", "daly"],
        "Warning: discharge under-temperature."
    ),
    flag!("warning_low_capacity", &["lp4", "jk"], "Warning: low capacity."),
    flag!(
        "warning_float_stopped",
        LP4,
        "Warning: float charge stopped."
    ),
    flag!("protection_pack_ov", &["lp4", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"], "Protection: pack over-voltage."),
    flag!("protection_cell_ov", &["lp4", "jbd", "daly", "jk-pb", "jk"], "Protection: cell over-voltage."),
    flag!("protection_pack_uv", &["lp4", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"], "Protection: pack under-voltage."),
    flag!("protection_cell_uv", &["lp4", "jbd", "daly", "pylontech", "jk-pb", "jk"], "Protection: cell under-voltage."),
    flag!(
        "protection_charge_oc",
        &["lp4", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Protection: charge over-current."
    ),
    flag!(
        "protection_discharge_oc",
        &["lp4", "pylon", "jbd", "daly", "pylontech", "jk-pb", "jk"],
        "Protection: discharge over-current."
    ),
    flag!(
        "protection_ambient_temp",
        LP4,
        "Protection: abnormal ambient temperature."
    ),
    flag!(
        "protection_mos_ot",
        &["lp4", "jk-pb", "jk"],
        "Protection: MOSFET over-temperature."
    ),
    flag!(
        "protection_charge_ot",
        &["lp4", "pylon", "jbd", "daly", "pylontech", "jk-pb"],
        "Protection: charge over-temperature."
    ),
    flag!(
        "protection_discharge_ot",
        &["lp4", "jbd", "daly", "pylontech", "jk-pb"],
        "Protection: discharge over-temperature."
    ),
    flag!(
        "protection_charge_ut",
        &["lp4", "pylon", "jbd", "daly", "jk-pb"],
        "Protection: charge under-temperature."
    ),
    flag!(
        "protection_discharge_ut",
        &["lp4", "jbd", "daly"],
        "Protection: discharge under-temperature."
    ),
    flag!("protection_low_capacity", LP4, "Protection: low capacity."),
    flag!(
        "protection_short_circuit",
        &["lp4", "pylon", "jbd", "jk-pb"],
        "Protection: discharge short circuit."
    ),
    flag!("protection_overcurrent", E7, "Protection: over-current (bit 3 of status word 2, as dbus-serialbattery reads it; unconfirmed)."),
    flag!("protection_overvoltage", E7, "Protection: over-voltage (bit 4 of status word 2, as dbus-serialbattery reads it; unconfirmed)."),
    flag!("protection_undervoltage", E7, "Protection: under-voltage (bit 5 of status word 2, as dbus-serialbattery reads it; unconfirmed)."),
    flag!("alarm_voltage_error", LP4, "Error: voltage sensing error."),
    flag!(
        "alarm_temperature_error",
        LP4,
        "Error: temperature sensing error."
    ),
    flag!("alarm_current_error", LP4, "Error: current-flow error."),
    flag!("alarm_cell_unbalance", LP4, "Error: cell unbalance."),
    // pylon: the battery-to-inverter CAN link (protocols.md §9). The limits above, and the
    // shared fields marked with `pylon` in their sources, are written too.
    num!("temperature_battery", DEG, Some("temperature"), M, PYLON, "Battery temperature the BMS reports to the inverter (0x356)."),
    num!("module_count", None, None, M, PYLON, "Modules (packs) in the bank, as the master battery reports it (0x359 byte 4)."),
    num!("dip_address", None, None, None, PYLON, "DIP-switch address of the master battery (0x359 byte 7, profile lux)."),
    FieldSpec { name: "discharge_enable", kind: Kind::Flag, unit: None, device_class: None, state_class: None, sources: &["pylon", "pylontech"], description: "The BMS allows discharging (0x35C bit 6); not a problem flag." },
    FieldSpec { name: "request_force_charge_1", kind: Kind::Flag, unit: None, device_class: None, state_class: None, sources: &["pylon", "pylontech"], description: "The BMS asks the inverter to charge: SOC low (0x35C bit 5, force charge I). A request, not a problem flag." },
    FieldSpec { name: "request_force_charge_2", kind: Kind::Flag, unit: None, device_class: None, state_class: None, sources: &["pylon", "pylontech"], description: "The BMS asks the inverter to charge before it shuts down (0x35C bit 4, force charge II). A request, not a problem flag." },
    FieldSpec { name: "request_full_charge", kind: Kind::Flag, unit: None, device_class: None, state_class: None, sources: &["pylon", "pylontech"], description: "The BMS asks for a full charge (0x35C bit 3). A request, not a problem flag." },
    flag!("protection_battery_ot", &["pylon", "jk-pb", "jk"], "Protection: cell or module over-temperature."),
    flag!("protection_battery_ut", &["pylon", "jk"], "Protection: cell or module under-temperature."),
    flag!("protection_contactor", PYLON, "Protection: contactor fault (0x35A)."),
    flag!("protection_system_error", PYLON, "Protection: BMS system (internal) error."),
    flag!("protection_cell_imbalance", &["pylon", "daly", "jk"], "Protection: cell imbalance (0x35A)."),
    flag!("warning_battery_ot", &["pylon", "pylontech"], "Warning: cell or module high temperature."),
    flag!("warning_battery_ut", &["pylon", "pylontech"], "Warning: cell or module low temperature."),
    flag!("warning_contactor", PYLON, "Warning: contactor (0x35A)."),
    flag!("warning_short_circuit", PYLON, "Warning: short circuit (0x35A)."),
    flag!("warning_system_error", PYLON, "Warning: BMS internal (0x35A)."),
    flag!("warning_cell_imbalance", &["pylon", "daly"], "Warning: cell imbalance (0x35A)."),
    flag!("warning_internal_comm", PYLON, "Warning: internal communication failure (0x359 byte 3 bit 3)."),
    num!("online_capacity_ah", AH, None, M, PYLON, "Capacity of the modules online (0x35F)."),
    num!("installed_capacity_ah", AH, None, M, PYLON, "Installed capacity of the bank (0x379)."),
    num!("modules_online", None, None, M, PYLON, "Modules online (0x372)."),
    num!("modules_blocking_charge", None, None, M, PYLON, "Modules blocking charge (0x372)."),
    num!("modules_blocking_discharge", None, None, M, PYLON, "Modules blocking discharge (0x372)."),
    num!("modules_offline", None, None, M, PYLON, "Modules offline (0x372)."),
    num!("cell_temperature_min", DEG, Some("temperature"), M, &["pylon", "bank"], "Lowest cell temperature in the bank. pylon: 0x373, kelvin − 273.15; bank: the lowest cell/probe temperature of the online packs."),
    num!("cell_temperature_max", DEG, Some("temperature"), M, &["pylon", "bank"], "Highest cell temperature in the bank. pylon: 0x373, kelvin − 273.15; bank: the highest cell/probe temperature of the online packs."),
    FieldSpec { name: "cell_voltage_min_id", kind: Kind::Text, unit: None, device_class: None, state_class: None, sources: PYLON, description: "Name of the cell with the lowest voltage, as the BMS gives it (0x374)." },
    FieldSpec { name: "cell_voltage_max_id", kind: Kind::Text, unit: None, device_class: None, state_class: None, sources: PYLON, description: "Name of the cell with the highest voltage (0x375)." },
    FieldSpec { name: "cell_temperature_min_id", kind: Kind::Text, unit: None, device_class: None, state_class: None, sources: PYLON, description: "Name of the cell with the lowest temperature (0x376)." },
    FieldSpec { name: "cell_temperature_max_id", kind: Kind::Text, unit: None, device_class: None, state_class: None, sources: PYLON, description: "Name of the cell with the highest temperature (0x377)." },
    // bms-poll's families (jbd, daly): states and bits the other sources do not have.
    FieldSpec { name: "balancing", kind: Kind::Flag, unit: None, device_class: None, state_class: None, sources: &["jbd", "daly", "jk-pb", "jk"], description: "A cell is being balanced (any balance bit set); not a problem flag." },
    FieldSpec { name: "charge_fet", kind: Kind::Flag, unit: None, device_class: None, state_class: None, sources: &["jbd", "daly", "pylontech", "jk-pb", "jk"], description: "The charge MOSFET is on (the BMS lets the pack charge); not a problem flag." },
    FieldSpec { name: "discharge_fet", kind: Kind::Flag, unit: None, device_class: None, state_class: None, sources: &["jbd", "daly", "pylontech", "jk-pb", "jk"], description: "The discharge MOSFET is on (the BMS lets the pack discharge); not a problem flag." },
    flag!("protection_afe", JBD, "Protection: analog front-end IC error (0x03 protection bit 11)."),
    flag!("protection_fet_lock", JBD, "Protection: MOSFETs locked off by software (0x03 protection bit 12)."),
    flag!("warning_soc_high", DALY, "Warning: SOC too high (0x98, level 1)."),
    flag!("protection_soc_high", DALY, "Protection: SOC too high (0x98, level 2)."),
    flag!("warning_soc_low", DALY, "Warning: SOC too low (0x98, level 1)."),
    flag!("protection_soc_low", DALY, "Protection: SOC too low (0x98, level 2)."),
    flag!("warning_temperature_difference", DALY, "Warning: temperature difference between sensors too large (0x98, level 1)."),
    flag!("protection_temperature_difference", DALY, "Protection: temperature difference between sensors too large (0x98, level 2)."),
    flag!("alarm_charge_mos_ot", DALY, "Fault: charge MOSFET over-temperature (0x98 byte 4)."),
    flag!("alarm_discharge_mos_ot", DALY, "Fault: discharge MOSFET over-temperature (0x98 byte 4)."),
    flag!("alarm_charge_mos_sensor", DALY, "Fault: charge MOSFET temperature sensor (0x98 byte 4)."),
    flag!("alarm_discharge_mos_sensor", DALY, "Fault: discharge MOSFET temperature sensor (0x98 byte 4)."),
    flag!("alarm_charge_mos_stuck", DALY, "Fault: charge MOSFET stuck on (0x98 byte 4, \"adhesion\")."),
    flag!("alarm_discharge_mos_stuck", DALY, "Fault: discharge MOSFET stuck on (0x98 byte 4, \"adhesion\")."),
    flag!("alarm_charge_mos_open", DALY, "Fault: charge MOSFET open circuit (0x98 byte 4)."),
    flag!("alarm_discharge_mos_open", DALY, "Fault: discharge MOSFET open circuit (0x98 byte 4)."),
    flag!("alarm_afe", DALY, "Fault: analog front-end (acquisition) chip (0x98 byte 5)."),
    flag!("alarm_cell_sense_lead", DALY, "Fault: a cell sense lead is off (0x98 byte 5)."),
    flag!("alarm_temperature_sensor", &["daly", "jk-pb"], "Fault: a temperature sensor (0x98 byte 5)."),
    flag!("alarm_eeprom", DALY, "Fault: EEPROM storage (0x98 byte 5)."),
    flag!("alarm_rtc", DALY, "Fault: real-time clock (0x98 byte 5)."),
    flag!("alarm_precharge", DALY, "Fault: precharge failed (0x98 byte 5)."),
    flag!("alarm_vehicle_comm", DALY, "Fault: vehicle (external) communication (0x98 byte 5)."),
    flag!("alarm_internal_comm", &["daly", "jk-pb"], "Fault: internal communication module (0x98 byte 5)."),
    flag!("alarm_current_module", DALY, "Fault: current measurement module (0x98 byte 6)."),
    flag!("alarm_voltage_module", DALY, "Fault: voltage measurement module (0x98 byte 6)."),
    flag!("alarm_short_circuit", DALY, "Fault: short-circuit protection failed (0x98 byte 6)."),
    flag!("alarm_low_voltage_no_charge", DALY, "Fault: voltage too low to charge (0x98 byte 6)."),
    // bms-poll's JK families (protocols.md §15): jk-pb's type-2 alarm bits and jk's warning bits
    // that the other sources do not have.
    num!("balancing_current", A, Some("current"), M, JKPB, "Balancing current (jk-pb: type-2 record offset 170); its sign follows the balancer's direction."),
    flag!("alarm_wire_resistance", JKPB, "Fault: a cell wire's resistance is too high (alarm bit 0)."),
    flag!("alarm_cell_count", JKPB, "Fault: the cells found do not match the cell-count setting (alarm bit 2)."),
    flag!("alarm_current_sensor", JKPB, "Fault: current sensor (alarm bit 3)."),
    flag!("protection_charge_short_circuit", JKPB, "Protection: short circuit while charging (alarm bit 7)."),
    flag!("alarm_charge_mos", JKPB, "Fault: charge MOSFET (alarm bit 16)."),
    flag!("alarm_discharge_mos", JKPB, "Fault: discharge MOSFET (alarm bit 17)."),
    flag!("alarm_gps_disconnected", JKPB, "Fault: the GPS module is disconnected (alarm bit 18)."),
    flag!("alarm_change_password", JKPB, "The BMS asks for its default password to be changed (alarm bit 19)."),
    flag!("alarm_discharge_on_failed", JKPB, "Fault: the discharge MOSFET failed to switch on (alarm bit 20)."),
    flag!("alarm_parallel_module", JKPB, "Fault: a parallel (current-limiting) module (alarm bit 23)."),
    flag!("protection_box_ot", &["jk"], "Protection: battery box over-temperature (warning bit 8)."),
    num!("port_voltage", V, Some("voltage"), M, &["seplos"], "Voltage at the pack's power terminals behind the MOSFETs (0x42 custom word 6); pack_voltage is the cell stack."),
    num!("cell_temperature_avg", DEG, Some("temperature"), M, &["seplos3"], "Average cell temperature of the bank, as its master reports it (seplos3: system block 0x2100 register 10, × 0.1 °C)."),
    num!("setting_cell_voltage_high", V, Some("voltage"), M, &["pylontech"], "Configured cell high-voltage limit (0x47 system parameters, read once per connection; pace: the alarm level of its 0xD1 read, and each setting_* field the matching level of its 0xD1-0xDF reads)."),
    num!("setting_cell_voltage_low", V, Some("voltage"), M, &["pylontech"], "Configured cell low-voltage alarm limit (0x47)."),
    num!("setting_cell_voltage_under", V, Some("voltage"), M, &["pylontech"], "Configured cell under-voltage protection limit (0x47)."),
    num!("setting_charge_temperature_high", DEG, Some("temperature"), M, &["pylontech"], "Configured highest temperature for charging (0x47)."),
    num!("setting_charge_temperature_low", DEG, Some("temperature"), M, &["pylontech"], "Configured lowest temperature for charging (0x47)."),
    num!("setting_charge_current", A, Some("current"), M, &["pylontech"], "Configured charge current limit (0x47, ≥ 0); charge_current_limit is what the BMS allows now."),
    num!("setting_pack_voltage_high", V, Some("voltage"), M, &["pylontech"], "Configured pack (module) high-voltage limit (0x47)."),
    num!("setting_pack_voltage_low", V, Some("voltage"), M, &["pylontech"], "Configured pack low-voltage alarm limit (0x47)."),
    num!("setting_pack_voltage_under", V, Some("voltage"), M, &["pylontech"], "Configured pack under-voltage protection limit (0x47)."),
    num!("setting_discharge_temperature_high", DEG, Some("temperature"), M, &["pylontech"], "Configured highest temperature for discharging (0x47)."),
    num!("setting_discharge_temperature_low", DEG, Some("temperature"), M, &["pylontech"], "Configured lowest temperature for discharging (0x47)."),
    num!("setting_discharge_current", A, Some("current"), M, &["pylontech"], "Configured discharge current limit (0x47, ≥ 0); discharge_current_limit is what the BMS allows now."),
    num!("setting_cell_voltage_high_protection", V, Some("voltage"), M, &["pace"], "Configured cell over-voltage protection level (pace: 0xD1; setting_cell_voltage_high is the alarm level)."),
    num!("setting_pack_voltage_high_protection", V, Some("voltage"), M, &["pace"], "Configured pack over-voltage protection level (pace: 0xD5)."),
    num!("setting_charge_current_protection", A, Some("current"), M, &["pace"], "Configured charge over-current protection level (pace: 0xD9, ≥ 0; setting_charge_current is the alarm level)."),
    num!("setting_discharge_current_protection", A, Some("current"), M, &["pace"], "Configured discharge over-current protection level (pace: 0xDB, ≥ 0)."),
    num!("setting_charge_temperature_high_protection", DEG, Some("temperature"), M, &["pace"], "Configured charge over-temperature protection level (pace: 0xDD)."),
    num!("setting_charge_temperature_low_protection", DEG, Some("temperature"), M, &["pace"], "Configured charge under-temperature protection level (pace: 0xDF)."),
    num!("setting_discharge_temperature_high_protection", DEG, Some("temperature"), M, &["pace"], "Configured discharge over-temperature protection level (pace: 0xDD)."),
    num!("setting_discharge_temperature_low_protection", DEG, Some("temperature"), M, &["pace"], "Configured discharge under-temperature protection level (pace: 0xDF)."),
];

/// The sources of the Pylon-ASCII families added after the per-field lists (issue 22), by
/// source: the catalogue fields each writes. [`sources`] merges them into every field's
/// sources, so a field's entry above needs no edit when one of these families starts writing it.
pub const LATER_SOURCES: &[(&str, &[&str])] = &[
    (
        "seplos",
        &[
            "pack_voltage",
            "pack_current",
            "soc",
            "soh",
            "cell_voltages",
            "cell_voltage_min",
            "cell_voltage_max",
            "cell_voltage_delta_mv",
            "cell_lowest",
            "cell_highest",
            "cell_count",
            "temperatures",
            "temperature_env",
            "temperature_mos",
            "remaining_ah",
            "capacity_ah",
            "design_capacity_ah",
            "cycle_count",
            "warning_cell_ov",
            "warning_cell_uv",
            "warning_battery_ot",
            "warning_battery_ut",
            "warning_ambient_temp",
            "warning_mos_ot",
            "warning_pack_ov",
            "warning_pack_uv",
            "discharge_fet",
            "charge_fet",
            "balancing",
            "balancing_mask",
            "state",
        ],
    ),
    (
        "pace",
        &[
            "pack_voltage",
            "pack_current",
            "soc",
            "cell_voltages",
            "cell_voltage_min",
            "cell_voltage_max",
            "cell_voltage_delta_mv",
            "cell_lowest",
            "cell_highest",
            "cell_count",
            "temperatures",
            "remaining_ah",
            "capacity_ah",
            "design_capacity_ah",
            "cycle_count",
            "warning_cell_ov",
            "warning_cell_uv",
            "warning_battery_ot",
            "warning_battery_ut",
            "warning_charge_oc",
            "warning_pack_ov",
            "warning_pack_uv",
            "warning_discharge_oc",
            "balancing",
            "balancing_mask",
            "setting_cell_voltage_high",
            "setting_cell_voltage_low",
            "setting_cell_voltage_under",
            "setting_charge_temperature_high",
            "setting_charge_temperature_low",
            "setting_charge_current",
            "setting_pack_voltage_high",
            "setting_pack_voltage_low",
            "setting_pack_voltage_under",
            "setting_discharge_temperature_high",
            "setting_discharge_temperature_low",
            "setting_discharge_current",
        ],
    ),
    (
        "seplos3",
        &[
            "pack_voltage",
            "pack_current",
            "soc",
            "soh",
            "cell_voltages",
            "cell_voltage_min",
            "cell_voltage_max",
            "cell_voltage_delta_mv",
            "cell_lowest",
            "cell_highest",
            "cell_count",
            "temperatures",
            "temperature_env",
            "temperature_mos",
            "remaining_ah",
            "design_capacity_ah",
            "cycle_count",
            "discharge_fet",
            "charge_fet",
            "packs_total",
        ],
    ),
];

/// Every source that writes `f`: its own list and [`LATER_SOURCES`].
pub fn sources(f: &FieldSpec) -> Vec<&'static str> {
    let mut out = f.sources.to_vec();
    for (source, fields) in LATER_SOURCES {
        if fields.contains(&f.name) && !out.contains(source) {
            out.push(source);
        }
    }
    out
}

/// Whether `source` writes the field `name` by the catalogue.
pub fn writes(source: &str, name: &str) -> bool {
    lookup(name).is_some_and(|f| sources(f).contains(&source))
}

/// Decimals Home Assistant shows for a field with a unit (it shows voltages with none unless
/// told): from the unit and the name, with [`PRECISION`] for exceptions. A field added with the
/// macros gets one automatically; a unit not listed here gets 2.
pub fn display_precision(f: &FieldSpec) -> Option<u8> {
    if let Some((_, p)) = PRECISION.iter().find(|(n, _)| *n == f.name) {
        return Some(*p);
    }
    Some(match f.unit? {
        "V" if f.name.starts_with("cell") => 3,
        "V" | "A" | "kWh" => 2,
        "mV" | "mA" | "W" | "Wh" | "%" | "s" => 0,
        "°C" | "K" | "Ah" => 1,
        _ => 2,
    })
}

/// Display precision exceptions to the rule of [`display_precision`].
const PRECISION: &[(&str, u8)] = &[
    ("system_average_voltage", 2),
    ("pre_voltage", 2),
    // Limits come in 0.1 V / 0.1 A steps and are mostly whole numbers: "100.0 A", not "100.00 A".
    ("charge_voltage_limit", 1),
    ("discharge_voltage_limit", 1),
    ("charge_current_limit", 1),
    ("discharge_current_limit", 1),
];

/// Home Assistant's `entity_category`: `diagnostic` for what an owner does not watch (sizes,
/// masks, board temperature, positions, versions, raw vendor counters without a unit), so the
/// device card shows the battery, not its bookkeeping. Numbers without a unit are diagnostic
/// unless [`WATCHED`] lists them; [`DIAGNOSTIC`] adds the rest.
pub fn entity_category(f: &FieldSpec) -> Option<&'static str> {
    let diagnostic = DIAGNOSTIC.contains(&f.name)
        // Configured thresholds (0x47): the battery's settings, not its state.
        || f.name.starts_with("setting_")
        // Which cell or pack a figure belongs to goes with the cell index numbers.
        || (f.kind == Kind::Text && (f.name.ends_with("_device") || f.name.ends_with("_id")))
        || f.name.contains("version")
        || f.name.contains("firmware")
        || (f.kind == Kind::Number && f.unit.is_none() && !WATCHED.contains(&f.name));
    diagnostic.then_some("diagnostic")
}

/// Diagnostic although they have a unit.
const DIAGNOSTIC: &[&str] = &[
    "design_capacity_ah",
    "temperature_pcb",
    "max_charge_current",
];
/// Numbers without a unit an owner does watch.
const WATCHED: &[&str] = &["cycle_count", "packs_online", "packs_total"];

/// The values of a text field Home Assistant shows as an `enum` sensor (device_class `enum`).
pub fn options(f: &FieldSpec) -> Option<&'static [&'static str]> {
    match f.name {
        "state" => Some(&[
            "standby",
            "idle",
            "charging",
            "discharging",
            "protect",
            "charge_limit",
        ]),
        _ => None,
    }
}

/// The spec of a field, if the catalogue has it.
pub fn lookup(name: &str) -> Option<&'static FieldSpec> {
    // A hash map, built once: readings-to-mqtt looks up every field of every reading.
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static FieldSpec>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| CATALOG.iter().rev().map(|f| (f.name, f)).collect())
        .get(name)
        .copied()
}

/// The catalogue as a Markdown table, for docs/readings.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "| field | type | unit | HA device_class | HA state_class | sources | meaning |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for f in CATALOG {
        let kind = match f.kind {
            Kind::Number => "number",
            Kind::Array => "array of numbers",
            Kind::Flag => "bool",
            Kind::Text => "string",
        };
        let dash = |o: Option<&str>| o.map(|s| format!("`{s}`")).unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            f.name,
            kind,
            f.unit.unwrap_or("—"),
            dash(f.device_class),
            dash(f.state_class),
            sources(f).join(", "),
            f.description
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_topic_safe() {
        for (i, f) in CATALOG.iter().enumerate() {
            assert!(crate::record::is_device_id(f.name), "{}", f.name);
            assert!(
                !CATALOG[..i].iter().any(|g| g.name == f.name),
                "duplicate {}",
                f.name
            );
        }
    }

    /// The later families' lists name catalogue fields only, each once.
    #[test]
    fn later_sources_name_catalogue_fields() {
        for (source, fields) in LATER_SOURCES {
            for (i, n) in fields.iter().enumerate() {
                assert!(lookup(n).is_some(), "{source}: {n}");
                assert!(!fields[..i].contains(n), "{source}: {n} twice");
            }
        }
        assert!(writes("seplos", "pack_voltage") && writes("lp4", "pack_voltage"));
        assert!(!writes("seplos", "insulation_resistance"));
    }

    /// Every field with a unit gets a display precision (fields merged later too).
    #[test]
    fn every_field_with_a_unit_has_a_display_precision() {
        for f in CATALOG {
            assert_eq!(
                display_precision(f).is_some(),
                f.unit.is_some(),
                "{}",
                f.name
            );
        }
        let p = |n| display_precision(lookup(n).unwrap());
        assert_eq!(p("cell_voltages"), Some(3));
        assert_eq!(p("pack_voltage"), Some(2));
        assert_eq!(p("pack_current"), Some(2));
        assert_eq!(p("energy_charged_kwh"), Some(2));
    }

    #[test]
    fn enum_fields_list_their_options_and_diagnostics_are_the_bookkeeping() {
        for f in CATALOG {
            assert_eq!(
                f.device_class == Some("enum"),
                options(f).is_some(),
                "{}",
                f.name
            );
        }
        let cat = |n| entity_category(lookup(n).unwrap());
        for n in [
            "cell_count",
            "design_capacity_ah",
            "balancing_mask",
            "temperature_pcb",
        ] {
            assert_eq!(cat(n), Some("diagnostic"), "{n}");
        }
        for n in [
            "soc",
            "pack_voltage",
            "cycle_count",
            "warning_cell_ov",
            "energy_charged_kwh",
        ] {
            assert_eq!(cat(n), None, "{n}");
        }
    }

    /// Home Assistant's compatibility rules of protocols.md §6.5.
    #[test]
    fn classes_follow_home_assistant_rules() {
        for f in CATALOG {
            match f.device_class {
                Some("voltage") => assert!(matches!(f.unit, Some("V" | "mV"))),
                Some("current") => assert!(matches!(f.unit, Some("A" | "mA"))),
                Some("temperature") => assert!(matches!(f.unit, Some("°C" | "K"))),
                Some("battery") => assert_eq!(f.unit, Some("%")),
                Some("energy") => {
                    assert!(matches!(f.state_class, Some("total" | "total_increasing")))
                }
                Some("power") => assert_eq!(f.unit, Some("W")),
                Some("duration") => assert_eq!(f.unit, Some("s")),
                Some("enum") | Some("problem") => assert_eq!(f.state_class, None),
                None => {}
                Some(other) => panic!("{}: class {other} not checked", f.name),
            }
            if matches!(
                f.device_class,
                Some("voltage" | "current" | "temperature" | "battery")
            ) {
                assert_eq!(f.state_class, Some("measurement"), "{}", f.name);
            }
            if matches!(f.kind, Kind::Flag | Kind::Text) {
                assert_eq!(f.state_class, None, "{}", f.name);
            }
        }
    }
}
