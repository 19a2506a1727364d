"""`dance label`'s local server: the labelling page (web/label/) and a small
JSON API over a `Labeller`, with `dance serve`'s hardening (a fixed list of
files, socket timeouts, quiet on dropped clients).

    GET  /api/recordings                 {"todo": [{"name", "file"}], "decided": {...}, "out"}
    GET  /api/proposal?name=N[&bpm=B]    the proposed grid (beats, tempo, meter, offset, best offset per meter)
         [&from=S][&to=E]                of the section between change marks S and E (seconds) alone
    GET  /api/audio?name=N               the recording as heard and written: 16 kHz mono 16-bit WAV
    POST /api/decision                   {"name", "decision": accept|reject|skip, and for accept
                                          "meter", "offset", "nudge_ms", "bpm" (a tapped tempo or null),
                                          "changes": [{"start", "meter", "offset", "bpm"}, ...] (change marks)}

Every input is checked: a bad request is a 400 with a one-line message (409
when the recording was already decided, 422 when its audio is unusable),
never a traceback. POSTs must say they are JSON, which a page on another
site cannot send without asking first (and this server never says yes)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import soundfile

from dance import config
from dance.data.audio import AudioError
from dance.data.pipeline import prepare_output
from dance.data.processes import FolderBusy, FolderLock
from dance.label import MIN_SECTION_SECONDS, Labeller, LabelError, Settings, find_recordings, number
from dance.serve import WEB, Handler, ServeError, listen

PAGE_FILES = {"/": WEB / "label" / "index.html", "/label.js": WEB / "label" / "label.js"}
MAX_BODY_BYTES = 4096


class NotFound(LabelError):
    status = 404


class LengthRequired(LabelError):
    status = 411


def query(text: str, allowed: set[str]) -> dict[str, str]:
    """Each parameter once, only known ones."""
    try:
        pairs = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=10)
    except ValueError as e:
        raise LabelError(f"bad query string: {e}") from None
    unknown = set(pairs) - allowed
    if unknown:
        raise LabelError(f"unknown parameter {sorted(unknown)[0]!r}; this address takes {', '.join(sorted(allowed))}")
    repeated = [k for k, v in pairs.items() if len(v) > 1]
    if repeated:
        raise LabelError(f"parameter {repeated[0]!r} given more than once")
    return {k: v[0] for k, v in pairs.items()}


def number_parameter(params: dict[str, str], key: str) -> float | None:
    if key not in params:
        return None
    try:
        value = float(params[key])
    except ValueError:
        raise LabelError(f"{key} must be a number, got {params[key]!r}") from None
    if not np.isfinite(value):
        raise LabelError(f"{key} must be a finite number, got {params[key]!r}")
    return value


def tempo_parameter(params: dict[str, str]) -> float | None:
    value = number_parameter(params, "bpm")
    return None if value is None else number({"bpm": value}, "bpm", *config.LABEL_TEMPO_RANGE)


def wav_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, config.SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def reject_constant(name: str):
    raise LabelError(f"{name} is not a number JSON allows")


class LabelHandler(Handler):
    labeller: Labeller

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if not url.path.startswith("/api/"):
            super().do_GET()  # the page's own files, from the fixed list
            return
        routes = {"/api/recordings": self.recordings, "/api/proposal": self.proposal, "/api/audio": self.audio}
        self.answer(lambda: routes[url.path](url.query) if url.path in routes else not_found(url.path))

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.answer(lambda: self.decision(self.json_body()) if url.path == "/api/decision" else not_found(url.path))

    def answer(self, handle) -> None:
        """Run a route; its errors become JSON answers with one line each."""
        try:
            status, kind, body = handle()
        except LabelError as e:
            status, kind, body = e.status, *as_json({"error": str(e)})
        except AudioError as e:
            status, kind, body = 422, *as_json({"error": str(e)})
        except Exception as e:  # a bug, not the client's fault: one line here, one line there
            print(f"dance label: {self.path}: {type(e).__name__}: {e}", file=sys.stderr)
            status, kind, body = 500, *as_json({"error": f"internal error: {type(e).__name__}: {e}"})
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def json_body(self) -> dict:
        if self.headers.get_content_type() != "application/json":
            raise LabelError("the body must be JSON (Content-Type: application/json)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise LengthRequired("a Content-Length header is required") from None
        if not 0 < length <= MAX_BODY_BYTES:
            raise LabelError(f"the body must be 1 to {MAX_BODY_BYTES} bytes, got {length}")
        text = self.rfile.read(length)
        try:
            data = json.loads(text, parse_constant=reject_constant)
        except (ValueError, RecursionError) as e:
            raise LabelError(f"the body is not valid JSON: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise LabelError("the body must be a JSON object")
        return data

    def recordings(self, text: str):
        query(text, set())
        labeller = self.labeller
        todo = [{"name": r.name, "file": r.path.name} for r in labeller.todo()]
        return 200, *as_json({"todo": todo, "decided": labeller.counts(), "out": str(labeller.out)})

    def proposal(self, text: str):
        params = query(text, {"name", "bpm", "from", "to"})
        name = self.labeller.recording(params.get("name")).name
        start, end = number_parameter(params, "from") or 0.0, number_parameter(params, "to")
        if end is not None and not end >= start + MIN_SECTION_SECONDS:
            raise LabelError(f"to must be at least {MIN_SECTION_SECONDS:g} s after from, got from={start:g}, to={end:g}")
        proposal = self.labeller.proposal(name, tempo_parameter(params), start, end)
        analysis = self.labeller.analysis(name)
        self.labeller.prefetch_after(name)
        return 200, *as_json({"name": name, **proposal.as_json(), "duration": len(analysis.samples) / config.SAMPLE_RATE,
                              "model_downbeats": [round(float(t), 3) for t in analysis.model_downbeats]})

    def audio(self, text: str):
        name = self.labeller.recording(query(text, {"name"}).get("name")).name
        return 200, "audio/wav", wav_bytes(self.labeller.analysis(name).samples)

    def decision(self, data: dict):
        unknown = set(data) - {"name", "decision", "meter", "offset", "nudge_ms", "bpm", "changes"}
        if unknown:
            raise LabelError(f"unknown field {sorted(unknown)[0]!r}")
        name = self.labeller.recording(data.get("name")).name  # the name first: its error says the most
        settings = Settings.from_json(data) if data.get("decision") == "accept" else None
        written = self.labeller.decide(name, data.get("decision"), settings)
        return 200, *as_json({"written": [str(p) for p in written]})


def as_json(value: dict) -> tuple[str, bytes]:
    return "application/json", json.dumps(value).encode()


def not_found(path: str):
    raise NotFound(f"no such address {path!r}")


@contextlib.contextmanager
def labelling_server(inputs: list[Path], out: Path, model, model_name: str, port: int, host: str = "127.0.0.1"):
    """(server, labeller) for one labelling run; OUT is locked against a second run while it lasts."""
    for name, path in PAGE_FILES.items():
        if not path.is_file():
            raise ServeError(f"the labelling page is missing: {path}")
    recordings = find_recordings(inputs, out)
    prepare_output(out)
    try:
        with FolderLock(out):
            labeller = Labeller(recordings, out, model, model_name)
            server = listen(type("Labelling", (LabelHandler,), {"files": PAGE_FILES, "labeller": labeller}), port, host)
            try:
                yield server, labeller
            finally:
                server.server_close()
    except FolderBusy as e:
        raise LabelError(str(e)) from None
