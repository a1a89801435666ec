"""The web client's vectors (tests/vectors/client_vectors.json) still match the Python modules.

web/ checks its bet text, SIWE message, session key, grid math and money formatting against that file
(`npm test`); this test fails when a Python change would make the committed file stale, so the client
cannot silently drift from the server. Regenerate with `.venv/bin/python scripts/gen_client_vectors.py`.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "gen_client_vectors.py"
VECTORS = ROOT / "tests" / "vectors" / "client_vectors.json"
REGENERATE = "stale client vectors: run .venv/bin/python scripts/gen_client_vectors.py and update web/"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_client_vectors", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_vectors_equal_the_generators_output() -> None:
    generator = load_generator()
    fresh = generator.build_vectors()
    committed = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert committed == fresh, REGENERATE
    assert VECTORS.read_text(encoding="utf-8") == generator.render(fresh), REGENERATE


def test_the_generator_is_deterministic() -> None:
    generator = load_generator()
    assert generator.render(generator.build_vectors()) == generator.render(generator.build_vectors())


def test_vectors_cover_every_section_the_client_reads() -> None:
    committed = json.loads(VECTORS.read_text(encoding="utf-8"))
    for section in ("bet_messages", "grid", "cell_ids", "multipliers", "min_multiplier", "money"):
        assert committed[section], section
    for section in ("session_key", "siwe", "personal_sign"):
        assert committed[section], section
