"""`voicebot doctor --bridge ari|agi`: connect to the PBX and check its side, one verdict each.

A call that fails at 3 a.m. because ari.conf has another password, manager.conf's permit
names the wrong address or the dialplan lacks voicebot's context costs a candidate; these
checks find each of those before the first call. ARI: HTTP reachable with the credentials,
the Stasis app registered (or registrable), app_amd loaded when `ari.amd_context` is set
(app_amd refuses to load without amd.conf). AMI: login (a refused permit and a wrong secret
look the same, so the line names both), and the dialplan contexts voicebot sends calls to,
listed with `ShowDialPlan` (write = reporting). A verdict is True (ok), False (FAIL) or
None (not checked, with the reason).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import aiohttp

from voicebot.config import Config
from voicebot.telephony.agi import login_refused

Verdict = tuple[str, bool | None, str]
TIMEOUT_S = 5.0


async def pbx_checks(cfg: Config, bridge: str) -> list[Verdict]:
    """The PBX-side verdicts for `bridge` ("ari" or "agi")."""
    if bridge == "ari":
        return await ari_checks(cfg)
    if bridge == "agi":
        return await agi_checks(cfg)
    return [(f"{bridge} bridge", None, "no PBX-side checks for this bridge")]


# ARI ----------------------------------------------------------------------------------------


async def ari_checks(cfg: Config) -> list[Verdict]:
    ari = cfg.ari
    base = ari.url.rstrip("/") + "/ari"
    auth = {"Authorization": aiohttp.encode_basic_auth(ari.username, ari.password)}
    out: list[Verdict] = []
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(headers=auth, timeout=timeout) as http:
        try:
            async with http.get(f"{base}/asterisk/info") as resp:
                status, info = resp.status, await _json(resp)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            out.append(
                (
                    "ari http",
                    False,
                    f"{ari.url} unreachable: {e or type(e).__name__} (http.conf enabled = yes, "
                    "bindaddr/bindport matching ari.url?)",
                )
            )
            return out
        if status == 401:
            why = "authentication failed (check ari.username/ari.password and ari.conf)"
            out.append(("ari http", False, f"{ari.url}: HTTP 401, {why}"))
            return out
        if status != 200:
            out.append(("ari http", False, f"{ari.url}: HTTP {status} (res_ari loaded?)"))
            return out
        version = (info.get("system") or {}).get("version", "?")
        out.append(("ari http", True, f"Asterisk {version} at {ari.url} as {ari.username!r}"))
        out.append(await _ari_app(http, base, cfg))
        if ari.amd_context:
            out.append(await _ari_amd(http, base))
        else:
            out.append(("ari amd", None, "ari.amd_context not set: no AMD detour"))
    contexts = [c for c in (ari.amd_context, ari.transfer_context) if c]
    out.append(await _dialplan_via_ami(cfg, contexts, inbound=("Stasis", ari.app)))
    return out


async def _ari_app(http: aiohttp.ClientSession, base: str, cfg: Config) -> Verdict:
    """Registered when voicebot is connected; else register it briefly over the websocket
    (never while voicebot is connected: a second websocket would take the app over)."""
    app = cfg.ari.app
    async with http.get(f"{base}/applications/{app}") as resp:
        if resp.status == 200:
            return ("ari app", True, f"Stasis app {app!r} registered (voicebot is connected)")
    ws_url = base.replace("http", "ws", 1) + "/events"
    try:
        async with http.ws_connect(ws_url, params={"app": app}) as ws:
            async with http.get(f"{base}/applications/{app}") as resp:
                ok = resp.status == 200
            await ws.close()
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        return (
            "ari app",
            False,
            f"events websocket for {app!r} refused: {e} (res_ari, res_http_websocket loaded?)",
        )
    if ok:
        return ("ari app", True, f"Stasis app {app!r} registers (voicebot not connected now)")
    return ("ari app", False, f"Stasis app {app!r} did not register over the websocket")


async def _ari_amd(http: aiohttp.ClientSession, base: str) -> Verdict:
    async with http.get(f"{base}/asterisk/modules/app_amd.so") as resp:
        module = await _json(resp) if resp.status == 200 else {}
    if module.get("status") == "Running":
        return ("ari amd", True, "app_amd loaded (amd.conf read)")
    return (
        "ari amd",
        False,
        "app_amd not loaded: Asterisk refuses it without amd.conf (`voicebot asterisk snippet` "
        "prints one), then `module load app_amd`",
    )


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    with contextlib.suppress(aiohttp.ContentTypeError, ValueError):
        data = await resp.json()
        return data if isinstance(data, dict) else {}
    return {}


# AMI ----------------------------------------------------------------------------------------


class AmiError(Exception):
    """An AMI action answered `Response: Error`; the message is Asterisk's."""


class AmiClient:
    """Just enough AMI for the checks: Login (events off) and list actions, one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.local_address = str(writer.get_extra_info("sockname")[0])
        self._ids = 0

    @classmethod
    async def connect(cls, host: str, port: int) -> AmiClient:
        reader, writer = await asyncio.open_connection(host, port)
        banner = await reader.readline()
        if not banner.startswith(b"Asterisk Call Manager/"):
            writer.close()
            raise ConnectionError(f"not an AMI banner: {banner[:40]!r}")
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    async def action(self, name: str, **headers: str) -> list[dict[str, str]]:
        """Send one action; its reply, and for a list ("will follow") the events up to the
        `…Complete` one. Raises `AmiError` on `Response: Error`."""
        self._ids += 1
        aid = f"doctor-{self._ids}"
        lines = [f"Action: {name}", f"ActionID: {aid}", *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        reply = await self._message(aid)
        if reply.get("Response") == "Error":
            raise AmiError(reply.get("Message", "error"))
        out = [reply]
        if reply.get("EventList") == "start" or "will follow" in reply.get("Message", ""):
            while not (msg := await self._message(aid)).get("EventList") == "Complete":
                out.append(msg)
        return out

    async def _message(self, aid: str) -> dict[str, str]:
        """The next message for `aid` (other events are skipped)."""
        while True:
            msg: dict[str, str] = {}
            while line := (await self.reader.readline()).decode("utf-8", "replace").rstrip():
                key, _, value = line.partition(": ")
                msg[key] = value
            if not msg and self.reader.at_eof():
                raise ConnectionError("AMI closed the connection")
            if msg.get("ActionID") == aid:
                return msg


async def _ami_session(cfg: Config) -> tuple[AmiClient | None, Verdict]:
    agi = cfg.agi
    where = f"{agi.ami_host}:{agi.ami_port}"
    try:
        async with asyncio.timeout(TIMEOUT_S):
            ami = await AmiClient.connect(agi.ami_host, agi.ami_port)
    except (OSError, TimeoutError) as e:
        why = f"{e or type(e).__name__}"
        return None, (
            "ami login",
            False,
            f"AMI at {where} unreachable: {why} (manager.conf [general] enabled = yes, "
            "bindaddr/port matching agi.ami_host/agi.ami_port?)",
        )
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await ami.action(
                "Login", Username=agi.ami_username, Secret=agi.ami_password, Events="off"
            )
    except (AmiError, ConnectionError, TimeoutError):
        await ami.close()
        return None, (
            "ami login",
            False,
            f"AMI at {where}: {login_refused(agi, ami.local_address)}",
        )
    return ami, (
        "ami login",
        True,
        f"logged in as {agi.ami_username!r} at {where} (from {ami.local_address})",
    )


async def agi_checks(cfg: Config) -> list[Verdict]:
    ami, login = await _ami_session(cfg)
    out = [login]
    if ami is None:
        out.append(("dialplan contexts", None, "not checked: no AMI session"))
        return out
    try:
        inbound = ("AGI", f":{cfg.agi.agi_port}/")  # agi://<voicebot>:<agi_port>/…
        out.append(await _dialplan(ami, [cfg.agi.context], inbound, needs="AudioSocket"))
    finally:
        await ami.close()
    return out


async def _dialplan_via_ami(cfg: Config, contexts: list[str], inbound: tuple[str, str]) -> Verdict:
    if not (cfg.agi.ami_password or cfg.agi.ami_username != "voicebot"):
        return (
            "dialplan contexts",
            None,
            f"not checked ({', '.join(contexts)}): ARI cannot list the dialplan; set agi.ami_* "
            "to check it over AMI",
        )
    ami, login = await _ami_session(cfg)
    if ami is None:
        return ("dialplan contexts", None, f"not checked: {login[2]}")
    try:
        return await _dialplan(ami, contexts, inbound)
    finally:
        await ami.close()


async def _dialplan(
    ami: AmiClient, contexts: Iterable[str], inbound: tuple[str, str], needs: str = ""
) -> Verdict:
    """Each context present (and running `needs`); where the inbound app is, if anywhere."""
    missing, found = [], []
    try:
        async with asyncio.timeout(TIMEOUT_S):
            for ctx in contexts:
                try:
                    rows = await ami.action("ShowDialPlan", Context=ctx)
                except AmiError as e:
                    if "Permission denied" in str(e):
                        return (
                            "dialplan contexts",
                            False,
                            "ShowDialPlan refused: add `reporting` to the AMI user's write= in "
                            "manager.conf",
                        )
                    missing.append(ctx)
                    continue
                apps = {r.get("Application", "") for r in rows[1:]}
                if needs and needs not in apps:
                    missing.append(f"{ctx} (no {needs}())")
                else:
                    found.append(ctx)
            everything = await ami.action("ShowDialPlan")
    except (ConnectionError, TimeoutError) as e:
        return ("dialplan contexts", False, f"ShowDialPlan failed: {e or type(e).__name__}")
    app, data = inbound
    checked = set(contexts)
    entry = next(
        (
            r
            for r in everything[1:]
            if r.get("Application") == app
            and data in r.get("AppData", "")
            and r.get("Context") not in checked
        ),
        None,
    )
    where = (
        f"inbound: {entry.get('Extension')}@{entry.get('Context')} runs {app}({entry['AppData']})"
        if entry
        else f"inbound: no extension runs {app}(…{data}…)"
    )
    if missing:
        return ("dialplan contexts", False, f"missing: {', '.join(missing)}; {where}")
    return ("dialplan contexts", True, f"{', '.join(found)} present; {where}")
