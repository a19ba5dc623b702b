"""Checks bmstap's MQTT discovery against a real Home Assistant (run by scripts/ha-check).

Starts, in a temporary directory and on free loopback ports: mosquitto, the demo pipeline
(bms-sim lp4 -> lp4-poll -> readings-bank -> readings-to-mqtt) and Home Assistant with a
minimal configuration (no default_config: nothing that reaches the internet). Onboards the
owner through HA's REST onboarding flow, adds the MQTT integration through HA's REST config
flow, saves an Energy battery system of the bank, then asserts through HA's own API:

- every entity has a value (unknown only where the device's latest state leaves the key out,
  as time_to_full/time_to_empty do by turns);
- no warning or error in HA's log about MQTT, templates, units, sensors or energy;
- entity and device names, entity ids as the discovery messages (the catalogue) say;
- energy/validate clean;
- no entity churn and no re-announcement over the watch (default 10 minutes) while the
  simulated current changes sign.

Takes screenshots of the device pages with headless Chromium. Runs with the Python of HA's
venv (it has aiohttp and paho-mqtt). Prints a report; exits 0 on PASS, 1 on FAIL.
"""

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import paho.mqtt.client as paho

# Log lines that fail the check: HA's warnings and errors about what bmstap sends.
TOPICAL = re.compile(r"mqtt|template|unit|sensor|energy|statistic|discovery", re.I)
# Keys a device leaves out by turns (the time estimates, with the sign of the current).
BY_TURNS = {"time_to_full", "time_to_empty"}


def say(*a):
    print("ha-check:", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, what, timeout=60):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"ha-check: {what} did not listen on {port} within {timeout} s")


class Procs:
    """Processes started here, each in its own process group, ended by their ids."""

    def __init__(self):
        self.procs = []

    def start(self, name, args, **kw):
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.procs.append((name, p))
        return p

    def stop(self, name, p, timeout):
        if p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{name} did not end within {timeout} s of SIGTERM: SIGKILL")
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def stop_all(self):
        for name, p in reversed(self.procs):
            self.stop(name, p, 90 if name == "hass" else 10)


class Mqtt:
    """Every discovery message and the newest state of each device, from the broker."""

    def __init__(self, port):
        self.discovery = []  # (monotonic time, device, retained, payload)
        self.states = {}  # device -> latest state payload
        self.currents = {}  # device -> [sign changes, last sign]
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"ha-check-{os.getpid()}")
        c.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [("homeassistant/device/+/config", 1), ("bmstap/+/state", 1)]
        )
        c.on_message = self.message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c

    def message(self, c, u, m):
        parts = m.topic.split("/")
        try:
            payload = json.loads(m.payload) if m.payload else None
        except ValueError:
            payload = None
        if parts[0] == "homeassistant":
            dev = parts[2].removeprefix("bmstap_")
            self.discovery.append((time.monotonic(), dev, bool(m.retain), payload))
        elif parts[-1] == "state" and isinstance(payload, dict):
            dev = parts[1]
            self.states[dev] = payload
            cur = payload.get("pack_current")
            if isinstance(cur, (int, float)) and cur != 0:
                sign = cur > 0
                st = self.currents.setdefault(dev, [0, sign])
                if st[1] != sign:
                    st[0] += 1
                    st[1] = sign
    def configs(self):
        """The newest discovery payload of each device."""
        out = {}
        for _, dev, _, p in self.discovery:
            if p:
                out[dev] = p
        return out

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


class Ha:
    def __init__(self, session, base):
        self.s = session
        self.base = base
        self.token = None
        self.ws = None
        self.n = 0

    def h(self):
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path):
        async with self.s.get(self.base + path, headers=self.h()) as r:
            r.raise_for_status()
            return await r.json()

    async def post(self, path, body):
        async with self.s.post(self.base + path, headers=self.h(), json=body) as r:
            text = await r.text()
            if r.status >= 400:
                raise SystemExit(f"ha-check: POST {path}: {r.status} {text}")
            return json.loads(text)

    async def connect_ws(self):
        self.ws = await self.s.ws_connect(self.base.replace("http", "ws") + "/api/websocket")
        assert (await self.ws.receive_json())["type"] == "auth_required"
        await self.ws.send_json({"type": "auth", "access_token": self.token})
        r = await self.ws.receive_json()
        if r["type"] != "auth_ok":
            raise SystemExit(f"ha-check: websocket auth: {r}")

    async def call(self, type_, **kw):
        self.n += 1
        await self.ws.send_json({"id": self.n, "type": type_, **kw})
        while True:
            r = await self.ws.receive_json()
            if r.get("id") == self.n and r.get("type") == "result":
                if not r.get("success"):
                    raise SystemExit(f"ha-check: {type_}: {r.get('error')}")
                return r.get("result")


def write_config(cfg, port):
    (cfg / ".storage").mkdir(parents=True)
    # Only the owner's step is left: the core_config step would set up integrations that
    # reach the internet (radio_browser, google_translate, met, ...).
    (cfg / ".storage" / "onboarding").write_text(
        json.dumps(
            {
                "version": 4,
                "minor_version": 1,
                "key": "onboarding",
                "data": {"done": ["core_config", "analytics", "integration"]},
            }
        )
    )
    (cfg / "configuration.yaml").write_text(
        f"""homeassistant:
  name: bmstap check
  latitude: 52.5
  longitude: 13.4
  elevation: 40
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: DE
  language: en
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
frontend:
energy:
recorder:
  commit_interval: 5
history:
system_log:
search:
logger:
  default: info
  logs:
    homeassistant.components.http: warning
    aiohttp.access: warning
"""
    )


async def onboard(ha, client_id):
    body = {
        "client_id": client_id,
        "name": "Owner",
        "username": "owner",
        "password": "ha-check-" + base64.b32encode(os.urandom(10)).decode(),
        "language": "en",
    }
    async with ha.s.post(ha.base + "/api/onboarding/users", json=body) as r:
        text = await r.text()
        if r.status != 200:
            raise SystemExit(f"ha-check: onboarding: {r.status} {text}")
        code = json.loads(text)["auth_code"]
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
    async with ha.s.post(ha.base + "/auth/token", data=data) as r:
        tok = await r.json()
    ha.token = tok["access_token"]
    return tok


async def wait_ha(session, base, timeout):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        try:
            async with session.get(base + "/api/onboarding") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)
    raise SystemExit(f"ha-check: Home Assistant did not answer within {timeout} s")


async def mqtt_entities(ha):
    ents = await ha.call("config/entity_registry/list")
    return {e["entity_id"]: e for e in ents if e.get("platform") == "mqtt"}


async def mqtt_devices(ha, entities):
    devs = await ha.call("config/device_registry/list")
    ids = {e["device_id"] for e in entities.values()}
    return {d["id"]: d for d in devs if d["id"] in ids}


async def screenshot(chromium, base, tokens, pages, outdir, tmp, procs):
    """Device pages with headless Chromium over the DevTools protocol."""
    port = free_port()
    p = procs.start(
        "chromium",
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={tmp / 'chromium'}",
            f"--remote-debugging-port={port}",
            "--window-size=1100,2200",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, "chromium")
    shots = []
    async with aiohttp.ClientSession() as s:
        for _ in range(50):
            async with s.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = [t for t in await r.json() if t.get("type") == "page"]
            if targets:
                break
            await asyncio.sleep(0.2)
        ws = await s.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0)
        n = 0

        async def cdp(method, **params):
            nonlocal n
            n += 1
            await ws.send_json({"id": n, "method": method, "params": params})
            while True:
                m = await ws.receive_json()
                if m.get("id") == n:
                    if "error" in m:
                        raise SystemExit(f"ha-check: chromium {method}: {m['error']}")
                    return m.get("result", {})

        async def settle(min_s=8, quiet_s=4, max_s=90):
            # The frontend loads its bundles, then the page's data: wait until no resource
            # has been added for a while.
            t0 = time.monotonic()
            last, since = -1, time.monotonic()
            while time.monotonic() - t0 < max_s:
                r = await cdp(
                    "Runtime.evaluate",
                    expression="performance.getEntriesByType('resource').length",
                    returnByValue=True,
                )
                cur = r.get("result", {}).get("value", 0)
                if cur != last:
                    last, since = cur, time.monotonic()
                elif time.monotonic() - t0 > min_s and time.monotonic() - since > quiet_s:
                    return
                await asyncio.sleep(1)

        await cdp("Page.enable")
        await cdp("Page.navigate", url=base + "/")
        await asyncio.sleep(2)
        await cdp(
            "Runtime.evaluate",
            expression="localStorage.setItem('hassTokens', " + json.dumps(json.dumps(tokens)) + ")",
        )
        for name, path in pages:
            await cdp("Page.navigate", url=base + path)
            await settle()
            r = await cdp("Page.captureScreenshot", format="png")
            out = outdir / f"{name}.png"
            out.write_bytes(base64.b64decode(r["data"]))
            shrink(out)
            shots.append((out, out.stat().st_size))
        await ws.close()
    procs.stop("chromium", p, 10)
    return shots


def shrink(path):
    """A palette PNG: the HA frontend's flat colours take 256 well, at a fraction of the size."""
    try:
        from PIL import Image
    except ImportError:
        return
    im = Image.open(path).convert("RGB")
    im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )


async def run(a):
    tmp = Path(tempfile.mkdtemp(prefix="ha-check-"))
    procs = Procs()
    failures, notes, report = [], [], {}
    mq = None
    try:
        bin_ = Path(a.bin)
        mport, hport = free_port(), free_port()
        base = f"http://127.0.0.1:{hport}"
        say(f"temporary directory {tmp}")
        procs.start(
            "mosquitto",
            [a.mosquitto, "-p", str(mport)],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "mosquitto.log", "w"),
        )
        wait_port(mport, "mosquitto")
        mq = Mqtt(mport)
        # The demo pipeline (scripts/demo): three simulated LifePower4 packs, pack 3 with a
        # cell over-voltage warning, polled every 2 s; the bank; the bridge.
        procs.start(
            "bms-sim",
            [
                str(bin_ / "bms-sim"), "lp4", "--address", "1,2,3", "--fault", "3:cell_ov",
                "--wire-baud", "9600", "--serial-tag", "demo", "--link", str(tmp / "lp4"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "bms-sim.log", "w"),
        )
        for _ in range(100):
            if (tmp / "lp4").exists():
                break
            time.sleep(0.1)
        pipeline = (
            f"'{bin_}/lp4-poll' --address 1,2,3 --interval 2s '{tmp}/lp4'"
            f" | '{bin_}/readings-bank' --bank bank=sim-demo-01,sim-demo-02,sim-demo-03"
            f" | '{bin_}/readings-to-mqtt' --port {mport} --tee > '{tmp}/readings.ndjson'"
        )
        procs.start(
            "pipeline",
            ["bash", "-c", pipeline],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "pipeline.log", "w"),
        )
        cfg = tmp / "ha"
        write_config(cfg, hport)
        say(f"starting Home Assistant ({a.hass}) on {base}")
        hlog = open(tmp / "hass.out", "w")
        procs.start(
            "hass",
            [a.hass, "-c", str(cfg), "--skip-pip"],
            stdout=hlog,
            stderr=subprocess.STDOUT,
        )
        async with aiohttp.ClientSession() as session:
            await wait_ha(session, base, a.start_timeout)
            ha = Ha(session, base)
            client_id = base + "/"
            tok = await onboard(ha, client_id)
            await ha.connect_ws()
            version = (await ha.get("/api/config"))["version"]
            say(f"Home Assistant {version} onboarded")
            flow = await ha.post("/api/config/config_entries/flow", {"handler": "mqtt"})
            if flow.get("type") == "menu":
                flow = await ha.post(
                    f"/api/config/config_entries/flow/{flow['flow_id']}", {"next_step_id": "broker"}
                )
            done = await ha.post(
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                {"broker": "127.0.0.1", "port": mport},
            )
            if done.get("type") != "create_entry":
                raise SystemExit(f"ha-check: MQTT config flow: {done}")
            say("MQTT integration added through the config flow")
            # Settled: the four devices and their entities, the same count twice 10 s apart.
            t0, last = time.monotonic(), None
            while True:
                ents = await mqtt_entities(ha)
                devs = await mqtt_devices(ha, ents)
                cur = (len(ents), len(devs))
                if cur == last and len(devs) >= 4:
                    break
                if time.monotonic() - t0 > 300:
                    raise SystemExit(f"ha-check: entities did not settle: {cur}")
                last = cur
                await asyncio.sleep(10)
            say(f"{len(ents)} entities on {len(devs)} devices")
            bank = "sensor.bank_"
            prefs = {
                "energy_sources": [
                    {
                        "type": "battery",
                        "stat_energy_from": bank + "energy_discharged_kwh",
                        "stat_energy_to": bank + "energy_charged_kwh",
                        "power_config": {"stat_rate_inverted": bank + "power"},
                    }
                ],
                "device_consumption": [],
            }
            await ha.call("energy/save_prefs", **prefs)
            baseline = set(ents)
            base_disc = len(mq.discovery)
            base_signs = {d: v[0] for d, v in mq.currents.items()}
            say(f"watching for {a.minutes:g} min (entity churn, re-announcements, sign changes)")
            churn = []
            end = time.monotonic() + a.minutes * 60
            while time.monotonic() < end:
                await asyncio.sleep(min(30, max(0, end - time.monotonic())))
                now = set(await mqtt_entities(ha))
                if now != baseline:
                    churn.append((sorted(now - baseline), sorted(baseline - now)))
                    baseline = now
            ents = await mqtt_entities(ha)
            devs = await mqtt_devices(ha, ents)
            states = {s["entity_id"]: s for s in await ha.get("/api/states")}
            validate = await ha.call("energy/validate")
            log_entries = await ha.call("system_log/list")
            configs = mq.configs()
            announced = [x for x in mq.discovery[base_disc:] if not x[2]]
            signs = {d: v[0] - base_signs.get(d, 0) for d, v in mq.currents.items()}

            # Every entity has a value (unknown only where the latest state leaves the key out).
            by_uid = {}
            for dev, c in configs.items():
                for key, cmp in c.get("cmps", {}).items():
                    by_uid[cmp["uniq_id"]] = (dev, key, cmp, c)
            no_value, unknown_ok = [], []
            for eid, e in ents.items():
                st = states.get(eid, {}).get("state")
                dev, key, cmp, c = by_uid.get(e.get("unique_id"), (None, None, None, None))
                if st in (None, "unknown", "unavailable"):
                    if key in BY_TURNS and key not in mq.states.get(dev, {}):
                        unknown_ok.append(eid)
                    else:
                        no_value.append(f"{eid}={st}")
            if no_value:
                failures.append(f"{len(no_value)} entities without a value: {no_value[:10]}")
            # Names and ids as the discovery messages (the catalogue) say.
            wrong = []
            for eid, e in ents.items():
                dev, key, cmp, c = by_uid.get(e.get("unique_id"), (None, None, None, None))
                if cmp is None:
                    wrong.append(f"{eid}: unique id {e.get('unique_id')} not announced")
                    continue
                if e.get("original_name") != cmp.get("name"):
                    wrong.append(f"{eid}: named {e.get('original_name')!r}, not {cmp.get('name')!r}")
                if eid != cmp.get("def_ent_id"):
                    wrong.append(f"{eid}: not {cmp.get('def_ent_id')}")
            for d in devs.values():
                want = next(
                    (c["dev"]["name"] for c in configs.values() if c["dev"]["ids"][0] in
                     [i[1] for i in d.get("identifiers", [])]),
                    None,
                )
                if d.get("name") != want:
                    wrong.append(f"device {d.get('name')!r}: not {want!r}")
            if wrong:
                failures.append(f"names: {wrong[:10]}")
            # HA's log.
            bad_log = []
            for entry in log_entries:
                if entry.get("level") not in ("WARNING", "ERROR", "CRITICAL"):
                    continue
                text = f"{entry.get('name')}: {' / '.join(entry.get('message', []))}"
                (bad_log if TOPICAL.search(text) else notes).append(f"{entry['level']} {text}")
            hass_log = (cfg / "home-assistant.log")
            file_warnings = []
            if hass_log.exists():
                for line in hass_log.read_text(errors="replace").splitlines():
                    if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line) and TOPICAL.search(line):
                        file_warnings.append(line[:300])
            if bad_log or file_warnings:
                failures.append(
                    f"{len(bad_log)} warnings/errors in system_log, {len(file_warnings)} in "
                    f"home-assistant.log: {(bad_log + file_warnings)[:10]}"
                )
            issues = [i for src in validate.get("energy_sources", []) for i in src]
            issues += [i for src in validate.get("device_consumption", []) for i in src]
            # The recorder compiles statistics every 5 minutes: before the first period ends
            # the counters have none yet, which energy/validate says (a short run only).
            early = [i for i in issues if i.get("type") == "statistics_not_defined"]
            if early and a.minutes < 6:
                notes.append(f"energy/validate: statistics not compiled yet (a run under 6 min): {early}")
                issues = [i for i in issues if i not in early]
            if issues:
                failures.append(f"energy/validate: {issues}")
            if churn:
                failures.append(f"entity churn: {churn[:5]}")
            if announced:
                failures.append(
                    f"{len(announced)} re-announcements: {[x[1] for x in announced][:10]}"
                )
            bank_signs = signs.get("bank", 0)
            if a.minutes >= 2 and bank_signs == 0:
                failures.append("the bank's current did not change sign during the watch")

            report = {
                "home_assistant": version,
                "minutes": a.minutes,
                "entities": len(ents),
                "devices": len(devs),
                "device_names": sorted(d.get("name") for d in devs.values()),
                "sign_changes": signs,
                "re_announcements": len(announced),
                "entity_churn": len(churn),
                "entities_without_value": len(no_value),
                "unknown_by_turns": sorted(unknown_ok),
                "log_warnings_topical": len(bad_log) + len(file_warnings),
                "log_warnings_other": notes,
                "energy_validate": validate,
            }
            # The entities as HA shows them, for docs/home-assistant.md.
            table = []
            for eid, e in sorted(ents.items()):
                s = states.get(eid, {})
                d = devs.get(e["device_id"], {})
                unit = s.get("attributes", {}).get("unit_of_measurement", "")
                table.append(
                    {
                        "device": d.get("name"),
                        "entity_id": eid,
                        "name": e.get("original_name"),
                        "state": s.get("state"),
                        "unit": unit,
                        "category": e.get("entity_category"),
                        "device_class": s.get("attributes", {}).get("device_class"),
                    }
                )
            (tmp / "entities.json").write_text(json.dumps(table, indent=1))
            if a.screenshots:
                outdir = Path(a.screenshots)
                outdir.mkdir(parents=True, exist_ok=True)
                tokens = {
                    "access_token": tok["access_token"],
                    "token_type": "Bearer",
                    "expires_in": tok["expires_in"],
                    "refresh_token": tok["refresh_token"],
                    "hassUrl": base,
                    "clientId": client_id,
                    "expires": int(time.time() * 1000) + tok["expires_in"] * 1000,
                }
                pages = []
                for d in sorted(devs.values(), key=lambda d: d.get("name") or ""):
                    slug = re.sub(r"[^a-z0-9]+", "-", (d.get("name") or d["id"]).lower()).strip("-")
                    pages.append((f"ha-device-{slug}", f"/config/devices/device/{d['id']}"))
                shots = await screenshot(a.chromium, base, tokens, pages, outdir, tmp, procs)
                report["screenshots"] = {str(p): n for p, n in shots}
                for p, n in shots:
                    if n > 200_000:
                        notes.append(f"{p}: {n} bytes (more than 200 KB)")
            if a.out:
                Path(a.out).write_text(
                    json.dumps({"report": report, "entities": table, "devices": [
                        {k: d.get(k) for k in ("name", "manufacturer", "model", "sw_version")}
                        for d in devs.values()]}, indent=1)
                )
    finally:
        if mq:
            mq.stop()
        procs.stop_all()
        if a.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=1))
    for n in notes:
        print("note:", n)
    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else "FAIL")
    return 0 if not failures else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="directory of the bmstap binaries")
    p.add_argument("--hass", required=True, help="the hass executable")
    p.add_argument("--minutes", type=float, default=10.0, help="how long to watch (default 10)")
    p.add_argument("--mosquitto", default=shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--screenshots", help="directory for the device pages' PNGs (none if left out)")
    p.add_argument("--out", help="write the report and the entity table as JSON here")
    p.add_argument("--start-timeout", type=float, default=600, help="seconds HA may take to start")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args()
    sys.exit(asyncio.run(run(a)))


if __name__ == "__main__":
    main()
