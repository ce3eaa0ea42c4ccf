"""The dense pass: passages given vectors by an endpoint's or a local model, fused by rank."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chattui.config import Config
from chattui.errors import KnowledgeError
from chattui.kb.bases import KnowledgeBases
from chattui.paths import resolve_paths
from tests.cli.conftest import run
from tests.remote.servers import FaultServer, write_endpoints

TOPICS = [
    "gardening tomatoes compost",
    "sailing knots harbour",
    "baking sourdough flour",
    "chess openings gambit",
    "violin bowing scales",
    "astronomy telescope nebula",
    "pottery glaze kiln",
    "cycling gears chain",
    "knitting wool needles",
    "birdwatching binoculars heron",
]


def make_folder(root: Path) -> Path:
    """Forty small notes on other things, and one about cars that never says automobile."""
    folder = root / "hobbies"
    folder.mkdir(parents=True)
    for n in range(40):
        topic = TOPICS[n % len(TOPICS)]
        (folder / f"note{n:02}.md").write_text(f"# Note {n}\n\nA page about {topic} {n}.\n")
    (folder / "garage.md").write_text("# Garage\n\nHow to repair the car brakes.\n")
    return folder


def bases_at(home: Path, fault: FaultServer, scenario: str) -> KnowledgeBases:
    write_endpoints(home, f'id = "lab"\nbase_url = "{fault.url(scenario)}"')
    paths = resolve_paths({"CHATTUI_HOME": str(home)})
    return KnowledgeBases.of(Config(kb_embedding_model="lab/embedder"), paths)


def test_vectors_from_an_endpoint_find_what_words_do_not(
    tmp_path: Path, chattui_home: Path, fault: FaultServer
) -> None:
    folder = make_folder(tmp_path)
    words_only = KnowledgeBases.of(Config(), resolve_paths())
    bases = bases_at(chattui_home, fault, "ok")
    report = bases.add("hobbies", [str(folder)])
    info = bases.info("hobbies")
    assert (report.embedded, info.vectors, info.embedder) == (41, 41, "lab/embedder")
    sent = [b for b in fault.bodies if "input" in b]
    assert sent[0]["model"] == "embedder"
    # "automobile" is in no passage: by words alone, "repair" is not enough of the question.
    assert words_only.search("hobbies", "automobile mend") == []
    found = bases.search("hobbies", "automobile mend")
    assert [p.shown for p in found][:1] == ["hobbies/garage.md"]
    # An update embeds only the passages that are new.
    (folder / "new.md").write_text("# New\n\nA page about kites.\n")
    before = len(fault.bodies)
    report = bases.update("hobbies")
    assert (report.indexed, report.embedded) == (1, 1)
    assert len(fault.bodies) - before == 2  # the check that the model answers, then the page
    bases.close()


@pytest.mark.parametrize(
    ("scenario", "says"),
    [
        ("401", "HTTP 401"),
        ("wrong-shape", "is not a list of vectors"),
        ("500", "HTTP 500"),
    ],
)
def test_a_model_that_cannot_embed_changes_nothing(
    tmp_path: Path, chattui_home: Path, fault: FaultServer, scenario: str, says: str
) -> None:
    folder = make_folder(tmp_path)
    bases = bases_at(chattui_home, fault, scenario)
    with pytest.raises(KnowledgeError, match=says) as raised:
        bases.add("hobbies", [str(folder)])
    assert "kb_embedding_model" in str(raised.value) and "\n" not in str(raised.value)
    assert bases.names() == []


def test_an_endpoint_that_goes_away_keeps_the_words(
    tmp_path: Path, chattui_home: Path, fault: FaultServer
) -> None:
    folder = make_folder(tmp_path)
    bases = bases_at(chattui_home, fault, "down-after-first")
    with pytest.raises(KnowledgeError, match="indexed for their words"):
        bases.add("hobbies", [str(folder)])
    info = bases.info("hobbies")
    assert (info.files, info.vectors) == (41, 0)
    plain = KnowledgeBases.of(Config(), resolve_paths())
    assert [p.shown for p in plain.search("hobbies", "sourdough")][:1] == ["hobbies/note02.md"]
    # Asking needs the question's vector: without the server, one line says so.
    with pytest.raises(KnowledgeError, match="cannot embed the question"):
        bases_at(chattui_home, fault, "down-after-first").search("hobbies", "kites")


def test_the_demo_model_embeds_locally(tmp_path: Path, chattui_home: Path) -> None:
    folder = make_folder(tmp_path)
    config = resolve_paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('kb_embedding_model = "smollm2"\n')
    added = run("kb", "add", "hobbies", str(folder))
    assert added.code == 0, added.stderr
    assert "41 embedded (smollm2)" in added.stderr
    listed = json.loads(run("kb", "list", "--json").stdout)[0]
    assert (listed["vectors"], listed["embedding_model"]) == (41, "smollm2")
    found = json.loads(run("kb", "search", "hobbies", "car brakes", "--json").stdout)
    assert found[0]["file"] == "hobbies/garage.md"
    asked = run("ask", "--kb", "hobbies", "--max-tokens", "4", "--json", "How to repair the car?")
    assert asked.code == 0, asked.stderr
    assert json.loads(asked.stdout)["sources"][0]["file"] == "hobbies/garage.md"
    # Another model's vectors cannot be compared: the next update makes them again.
    config.write_text('kb_embedding_model = "missing-model"\n')
    refused = run("kb", "update", "hobbies")
    assert refused.code == 1 and refused.stderr.count("\n") == 1
    assert "cannot be used: unknown model" in refused.stderr
    listed = json.loads(run("kb", "list", "--json").stdout)[0]
    assert (listed["vectors"], listed["embedding_model"]) == (41, "smollm2")  # untouched
