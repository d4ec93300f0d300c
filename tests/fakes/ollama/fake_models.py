"""The fake Ollama's models: manifests on disk, model names and tags, and the loaded-model (ps) table.

Models "on disk" are manifest files under $OLLAMA_MODELS, written atomically, so replicas sharing a
volume see each other's pulls.  Stdlib only.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fake_common import ApiError, Json

REGISTRY = "registry.ollama.ai"
FOREVER = 10_999_999_999.0  # Ollama reports a year-2318 expiry for keep_alive < 0
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def iso(ts: float | None = None) -> str:
    """Format a UNIX time as RFC 3339 UTC, like Go's time.RFC3339Nano."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_name(name: Any) -> tuple[Path, str]:
    """Map a model name to (manifest path below manifests/, canonical display name "name:tag")."""
    n = re.sub(r"^https?://", "", str(name or "").strip())
    if not n:
        raise ApiError(400, "model is required")
    base, tag = n.rsplit(":", 1) if n.rfind(":") > n.rfind("/") else (n, "latest")
    parts = base.split("/")
    parts = {1: [REGISTRY, "library"], 2: [REGISTRY]}.get(len(parts), []) + parts
    if len(parts) != 3 or not all(re.fullmatch(r"\w[\w.\-]*", p) for p in (*parts, tag)):
        raise ApiError(400, f'invalid model name "{n}"')
    host, ns, model = parts
    prefix = "" if host == REGISTRY and ns == "library" else (f"{ns}/" if host == REGISTRY else f"{host}/{ns}/")
    return Path(host, ns, model, tag), f"{prefix}{model}:{tag}"


def keep_alive_seconds(value: Any, default: float) -> float:
    """Parse keep_alive (seconds or a Go duration such as "5m"); negative means forever."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        parts = re.findall(r"(-?[\d.]+)(ns|us|µs|ms|s|m|h)", str(value))
        if not parts or "".join(a + b for a, b in parts) != str(value):
            raise ApiError(400, f'time: invalid duration "{value}"') from None
        return sum(float(a) * UNITS[b] for a, b in parts)


def fake_model(display: str) -> tuple[str, int]:
    """Deterministic (sha256 hex digest, byte size) of a model name."""
    h = hashlib.sha256(display.encode()).hexdigest()
    return h, 1_000_000_000 + int(h[:8], 16) % 3_000_000_000


def public(entry: Json) -> Json:
    """A store entry without its private (underscore) keys."""
    return {k: v for k, v in entry.items() if not k.startswith("_")}


class Store:
    """Model manifests on disk: <models>/manifests/<registry>/<namespace>/<model>/<tag> (JSON)."""

    def __init__(self, root: Path) -> None:
        self.manifests = root / "manifests"

    def put(self, name: str, data: Json | None = None) -> None:
        """Write a manifest atomically (temp file + rename); ``data`` copies another model's."""
        rel, display = parse_name(name)
        h, size = fake_model(display)
        data = data or {"schemaVersion": 2, "digest": f"sha256:{h}", "size": size,
                        "family": "bert" if "embed" in display else "llama"}
        path = self.manifests / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    def get(self, name: Any) -> Json | None:
        """The model's /api/tags entry (plus private _mtime/_raw keys), or None if not on disk."""
        rel, display = parse_name(name)
        try:
            path = self.manifests / rel
            data, mtime = json.loads(path.read_text()), path.stat().st_mtime
        except (OSError, ValueError):
            return None
        fam = data.get("family", "llama")
        details = {"parent_model": "", "format": "gguf", "family": fam, "families": [fam],
                   "parameter_size": f"{data['size'] / 0.6e9:.1f}B", "quantization_level": "Q4_K_M"}
        return {"name": display, "model": display, "modified_at": iso(mtime), "size": data["size"],
                "digest": data["digest"].removeprefix("sha256:"), "details": details, "_mtime": mtime, "_raw": data}

    def existing(self, name: Any) -> Json:
        """Like :meth:`get`, but a missing model is a 404 in the wording of the model-management API."""
        entry = self.get(name)
        if entry is None:
            raise ApiError(404, f"model '{name}' not found")
        return entry

    def preload(self, names: list[str]) -> None:
        """Write the manifests of the models in ``names`` that are not on disk yet."""
        for name in names:
            if self.get(name) is None:
                self.put(name)

    def delete(self, name: Any) -> bool:
        """Remove a manifest; False if it did not exist."""
        try:
            (self.manifests / parse_name(name)[0]).unlink()
            return True
        except FileNotFoundError:
            return False

    def all(self) -> list[Json]:
        """Every model on disk, most recently modified first."""
        paths = [p for p in self.manifests.glob("*/*/*/*") if p.is_file() and not p.name.startswith(".")]
        found = [self.get("{}/{}/{}:{}".format(*p.parts[-4:])) for p in paths]
        return sorted((m for m in found if m), key=lambda m: -m["_mtime"])

    # ---- model-management operations (/api/pull, /api/push, /api/create, /api/show) -----------
    def pull(self, name: Any, delay_ms: float) -> Iterator[Json]:
        """Progress objects of a pull lasting ``delay_ms``; the manifest is written before "success".

        The name is checked at once (ApiError), the steps run as the caller consumes them.
        """
        h, total = fake_model(parse_name(name)[1])

        def steps() -> Iterator[Json]:
            yield {"status": "pulling manifest"}
            for i in range(6):
                time.sleep(delay_ms / 5000 if i else 0)
                yield {"status": f"pulling {h[:12]}", "digest": f"sha256:{h}", "total": total,
                       "completed": total * i // 5}
            yield {"status": "verifying sha256 digest"}
            yield {"status": "writing manifest"}
            self.put(str(name))
            yield {"status": "success"}
        return steps()

    def create(self, name: Any, source: Any) -> Iterator[Json]:
        """Progress objects of creating ``name`` (from ``source`` if given; checked at once)."""
        src = self.existing(source) if source else None
        parse_name(name)

        def steps() -> Iterator[Json]:
            if src:
                yield {"status": f"using existing layer sha256:{src['digest']}"}
            yield {"status": "writing manifest"}
            self.put(str(name), src and {**src["_raw"], "digest": f"sha256:{uuid.uuid4().hex * 2}"})
            yield {"status": "success"}
        return steps()


def push_steps(entry: Json) -> Iterator[Json]:
    """Progress objects of pushing a model that is on disk."""
    d = {"digest": f"sha256:{entry['digest']}", "total": entry["size"], "completed": entry["size"]}
    return iter([{"status": "retrieving manifest"}, {"status": f"pushing {entry['digest'][:12]}", **d},
                 {"status": "pushing manifest"}, {"status": "success"}])


def show_info(e: Json) -> Json:
    """The /api/show body of a store entry."""
    arch = e["details"]["family"]
    return {"license": "", "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {e['name']}\n",
            "parameters": 'stop "<|eot_id|>"', "template": "{{ .Prompt }}", "details": e["details"],
            "model_info": {"general.architecture": arch, f"{arch}.context_length": 4096,
                           f"{arch}.embedding_length": 8}, "modified_at": e["modified_at"],
            "capabilities": ["embedding"] if arch == "bert" else ["completion", "tools"]}


class Loaded:
    """The models in memory (what /api/ps lists): display name -> (expiry UNIX time, store entry)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models: dict[str, tuple[float, Json]] = {}

    def load(self, entry: Json, keep_alive: float) -> None:
        """Mark a model loaded until now + keep_alive seconds; 0 unloads it, negative keeps it forever."""
        with self.lock:
            if keep_alive == 0:
                self.models.pop(entry["name"], None)
            else:
                self.models[entry["name"]] = (FOREVER if keep_alive < 0 else time.time() + keep_alive, entry)

    def ps(self) -> list[Json]:
        """The /api/ps entries of the models still loaded, the latest expiry first (expired ones dropped)."""
        with self.lock:
            for name in [n for n, (exp, _) in self.models.items() if exp <= time.time()]:
                del self.models[name]
            items = sorted(self.models.values(), key=lambda x: -x[0])
        return [{**{k: v for k, v in public(e).items() if k != "modified_at"}, "expires_at": iso(exp),
                 "size_vram": e["size"], "context_length": 4096} for exp, e in items]
