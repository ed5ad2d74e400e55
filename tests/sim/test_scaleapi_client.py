"""Drives the Scale v1 simulator (sim/scale-sim.mjs) with Scale's official
Python client (`scaleapi` on PyPI).

Why: the simulator stands in for api.scale.com in the worker's tests, so it must
speak the same wire as the real client expects. Every client method that maps
onto an endpoint the MCP tools use is exercised here; the simulator's own
control API (/__sim/...) is reached with urllib to complete tasks, seed state
and read the request log.

Run: bash scripts/setup.sh --test && .venv/bin/python -m pytest -q tests/sim
"""

import base64
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
import scaleapi
from scaleapi.exceptions import (
    ScaleDuplicateResource,
    ScaleInvalidRequest,
    ScaleNotEnabled,
    ScaleResourceNotFound,
    ScaleUnauthorized,
)
from scaleapi.tasks import TaskReviewStatus, TaskStatus, TaskType
from scaleapi.teams import TeammateRole

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "test_sim_key"


@pytest.fixture(scope="module")
def sim():
    """Starts the simulator on a free port; kills it when the module is done."""
    proc = subprocess.Popen(
        ["node", str(ROOT / "sim" / "scale-sim.mjs"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, "simulator exited before listening"
        info = json.loads(line)
        assert info["event"] == "listening"
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ctl(sim, method, path, body=None):
    """Calls the simulator's control API (no auth) and returns parsed JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        sim["url"] + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


@pytest.fixture()
def client(sim):
    """A fresh simulator state and a client pointed at it."""
    ctl(sim, "POST", "/__sim/reset")
    return scaleapi.ScaleClient(API_KEY, api_instance_url=sim["base"])


def requests_log(sim):
    return ctl(sim, "GET", "/__sim/requests")


# ---------------------------------------------------------------------------
# Projects


def test_projects(client, sim):
    project = client.create_project(
        "kittens / v1", TaskType.ImageAnnotation, params={"instruction": "Label kittens"}
    )
    assert project.name == "kittens / v1"
    assert project.type == "imageannotation"
    assert project.version == 0
    assert project.instruction == "Label kittens"

    # The name carries '/' and ' ': the client quotes it into one path segment.
    fetched = client.get_project("kittens / v1")
    assert fetched.as_dict()["param_history"][0]["instruction"] == "Label kittens"
    assert any(r["path"] == "/v1/projects/kittens%20%2F%20v1" for r in requests_log(sim))

    with pytest.raises(ScaleDuplicateResource):
        client.create_project("kittens / v1", TaskType.ImageAnnotation)
    with pytest.raises(ScaleResourceNotFound):
        client.get_project("no such project")

    # setParams: each call appends a version; patch keeps unspecified params.
    updated = client.update_project("kittens / v1", patch=True, geometries={"box": {}})
    assert updated.version == 1
    assert updated.params["instruction"] == "Label kittens"
    assert updated.params["geometries"] == {"box": {}}
    replaced = client.update_project("kittens / v1", patch=False, instruction="Only cats")
    assert replaced.version == 2
    assert replaced.instruction == "Only cats"
    assert "geometries" not in replaced.params

    # Listing, and the `archived` filter (the client's projects() takes no
    # arguments, so the filter goes through its generic request layer).
    ctl(sim, "POST", "/__sim/seed", {"projects": [{"type": "categorization", "name": "old", "archived": True}]})
    names = sorted(p.name for p in client.projects())
    assert names == ["kittens / v1", "old"]
    archived = client.api.get_request("projects", params={"archived": "true"})
    assert [p["name"] for p in archived] == ["old"]
    live = client.api.get_request("projects", params={"archived": "false"})
    assert [p["name"] for p in live] == ["kittens / v1"]


# ---------------------------------------------------------------------------
# Batches


def test_batches(client, sim):
    client.create_project("std", TaskType.Categorization)
    client.create_project("rapid", TaskType.ImageAnnotation, rapid=True)

    batch = client.create_batch("std", "b/1", metadata={"k": "v"})
    assert batch.name == "b/1"
    assert batch.project == "std"
    assert batch.status == "in_progress"  # not Rapid/Studio: no staging
    assert batch.metadata == {"k": "v"}
    assert client.get_batch("b/1").name == "b/1"

    with pytest.raises(ScaleDuplicateResource):
        client.create_batch("std", "b/1")
    with pytest.raises(ScaleInvalidRequest):
        client.create_batch("missing project", "b/2")
    with pytest.raises(ScaleResourceNotFound):
        client.get_batch("nope")

    # Rapid batches start in staging; finalize moves them on.
    staged = client.create_batch("rapid", "r1")
    assert staged.status == "staging"
    assert client.finalize_batch("r1").status == "in_progress"
    staged2 = client.create_batch("rapid", "r2")
    staged2.finalize()
    assert staged2.status == "in_progress"

    # Status counts: Scale omits zero counts; Batch.get_status defaults them.
    t1 = client.create_task(TaskType.Categorization, batch="b/1", attachment="a", categories=["x", "y"])
    client.create_task(TaskType.Categorization, batch="b/1", attachment="b", categories=["x", "y"])
    t3 = client.create_task(TaskType.Categorization, batch="b/1", attachment="c", categories=["x", "y"])
    ctl(sim, "POST", f"/__sim/tasks/{t1.id}/complete", {"response": {"category": "x"}})
    client.cancel_task(t3.id)
    status = client.batch_status("b/1")
    assert status == {"status": "in_progress", "pending": 1, "completed": 1, "canceled": 1}
    b = client.get_batch("b/1")
    b.get_status()
    assert (b.tasks_pending, b.tasks_completed, b.tasks_canceled, b.tasks_error) == (1, 1, 1, 0)

    # Listing: newest first, `totalDocs`, offset paging.
    page = client.batches(project="rapid", limit=1)
    assert page.total == 2 and page.has_more and [x.name for x in page.docs] == ["r2"]
    page2 = client.batches(project="rapid", limit=1, offset=1)
    assert [x.name for x in page2.docs] == ["r1"] and not page2.has_more
    all_batches = list(client.get_batches())
    assert [x.name for x in all_batches] == ["r2", "r1", "b/1"]
    assert [x.name for x in client.get_batches(batch_status=scaleapi.BatchStatus.InProgress, project_name="std")] == ["b/1"]


# ---------------------------------------------------------------------------
# Tasks


def test_create_and_get_tasks(client, sim):
    client.create_project("p", TaskType.ImageAnnotation)
    img = client.create_task(
        TaskType.ImageAnnotation,
        project="p",
        instruction="Draw boxes",
        attachment="https://example.com/cat.jpg",
        geometries={"box": {"objects_to_annotate": ["cat"]}},
        unique_id="img-1",
        metadata={"source": "test"},
        tags=["a", "b"],
        callback_url="https://example.com/cb",
    )
    assert len(img.id) == 24
    assert img.status == "pending"
    assert img.type == "imageannotation"
    assert img.project == "p"
    assert img.unique_id == "img-1"
    assert img.metadata == {"source": "test"}
    assert img.tags == ["a", "b"]
    assert img.params["attachment"] == "https://example.com/cat.jpg"
    assert img.params["geometries"]["box"]["objects_to_annotate"] == ["cat"]
    assert img.is_test is True

    cat = client.create_task(TaskType.Categorization, attachment="some text", attachment_type="text", categories=["x"])
    assert cat.metadata == {} and cat.tags == []
    tc = client.create_task(TaskType.TextCollection, attachments=[], fields=[])
    assert tc.type == "textcollection"

    fetched = client.get_task(img.id)
    assert fetched.as_dict() == img.as_dict()

    with pytest.raises(ScaleDuplicateResource) as dup:
        client.create_task(TaskType.ImageAnnotation, attachment="https://example.com/dog.jpg", unique_id="img-1")
    assert "img-1" in str(dup.value)
    with pytest.raises(ScaleResourceNotFound) as missing:
        client.get_task("000000000000000000000000")
    assert "Task with that ID not found." in str(missing.value)
    with pytest.raises(ScaleInvalidRequest):
        client.create_task(TaskType.ImageAnnotation, project="p", geometries={})  # no attachment
    with pytest.raises(ScaleInvalidRequest):
        client.create_task(TaskType.Categorization, project="nope", attachment="x")
    with pytest.raises(ScaleNotEnabled):
        client.create_task(TaskType.Federal2dVideoAnnotation, attachment="x")


def test_list_tasks_filters_and_paging(client, sim):
    client.create_project("p", TaskType.Categorization)
    client.create_project("q", TaskType.Categorization)
    ids = []
    for i in range(7):
        t = client.create_task(
            TaskType.Categorization,
            project="p",
            attachment=f"text {i}",
            categories=["x"],
            unique_id=f"u{i}",
            tags=["even"] if i % 2 == 0 else ["odd", "x"],
        )
        ids.append(t.id)
    client.create_task(TaskType.Categorization, project="q", attachment="other", categories=["x"])

    # One page at a time with the raw paginator.
    first = client.tasks(project="p", limit=3)
    assert first.total == 7 and first.limit == 3 and first.offset == 0 and first.has_more
    assert [t.id for t in first.docs] == ids[::-1][:3]  # newest first
    second = client.tasks(project="p", limit=3, next_token=first.next_token)
    assert [t.id for t in second.docs] == ids[::-1][3:6]
    last = client.tasks(project="p", limit=3, next_token=second.next_token)
    assert [t.id for t in last.docs] == ids[:1] and not last.has_more and last.next_token is None
    with pytest.raises(ScaleInvalidRequest):
        client.tasks(project="p", next_token="not-a-token")
    with pytest.raises(ScaleInvalidRequest):
        client.tasks(limit=101)

    # The generator follows next_token across pages.
    assert [t.id for t in client.get_tasks(project_name="p", limit=3)] == ids[::-1]
    assert client.get_tasks_count(project_name="p") == 7

    # Filters.
    odd = list(client.get_tasks(project_name="p", tags=["odd", "x"]))
    assert sorted(t.id for t in odd) == sorted(ids[1::2])
    by_uid = list(client.get_tasks(project_name="p", unique_id=["u2", "u5"]))
    assert sorted(t.unique_id for t in by_uid) == ["u2", "u5"]
    assert [t.unique_id for t in client.get_tasks(project_name="p", unique_id="u3")] == ["u3"]

    ctl(sim, "POST", f"/__sim/tasks/{ids[0]}/complete")
    client.cancel_task(ids[1])
    assert [t.id for t in client.get_tasks(project_name="p", status=TaskStatus.Completed)] == [ids[0]]
    assert [t.id for t in client.get_tasks(project_name="p", status=TaskStatus.Canceled)] == [ids[1]]
    assert client.get_tasks_count(project_name="p", status=TaskStatus.Pending) == 5
    assert [t.id for t in client.get_tasks(project_name="p", task_type=TaskType.Categorization, completed_after="2000-01-01")] == [ids[0]]

    ctl(sim, "POST", f"/__sim/tasks/{ids[0]}/audit", {"customer_review_status": "accepted"})
    accepted = list(client.get_tasks(project_name="p", review_status=[TaskReviewStatus.Accepted, TaskReviewStatus.Fixed]))
    assert [t.id for t in accepted] == [ids[0]]

    assert client.get_tasks_count(project_name="p", created_after="2000-01-01 00:00:00.000000") == 7
    assert client.get_tasks_count(project_name="p", created_before="2000-01-01") == 0
    assert client.get_tasks_count(project_name="p", updated_after="2000-01-01T00:00:00+00:00") == 7

    limited = list(client.get_tasks(project_name="p", limited_response=True))
    assert set(limited[0].as_dict()) == {"task_id", "status", "metadata", "project"}


def test_cancel_task(client, sim):
    t = client.create_task(TaskType.Categorization, attachment="x", categories=["a"], unique_id="c-1")
    canceled = client.cancel_task(t.id)
    assert canceled.status == "canceled"
    assert client.cancel_task(t.id).status == "canceled"  # idempotent
    # Without clear_unique_id the id stays taken; with it, it is freed.
    with pytest.raises(ScaleDuplicateResource):
        client.create_task(TaskType.Categorization, attachment="y", categories=["a"], unique_id="c-1")
    cleared = client.cancel_task(t.id, clear_unique_id=True)
    assert "unique_id" not in cleared.as_dict()
    reused = client.create_task(TaskType.Categorization, attachment="y", categories=["a"], unique_id="c-1")
    assert reused.unique_id == "c-1"

    ctl(sim, "POST", f"/__sim/tasks/{reused.id}/complete", {"response": {"category": "a"}})
    with pytest.raises(ScaleInvalidRequest):
        client.cancel_task(reused.id)
    done = client.get_task(reused.id)
    assert done.status == "completed" and done.response == {"category": "a"}
    with pytest.raises(ScaleResourceNotFound):
        client.cancel_task("ffffffffffffffffffffffff")

    cancel_calls = [r for r in requests_log(sim) if r["path"].endswith("/cancel")]
    assert [r["query"] for r in cancel_calls] == ["", "", "clear_unique_id=true", "", ""]


def test_metadata_tags_and_unique_id(client, sim):
    t = client.create_task(TaskType.Categorization, attachment="x", categories=["a"], metadata={"old": 1})
    assert client.set_task_metadata(t.id, {"new": {"nested": True}}).metadata == {"new": {"nested": True}}
    # The client sends no body at all for {} (it does `body or None`).
    assert client.set_task_metadata(t.id, {}).metadata == {}

    assert client.set_task_tags(t.id, ["a", "b"]).tags == ["a", "b"]
    assert client.add_task_tags(t.id, ["b", "c"]).tags == ["a", "b", "c"]
    assert client.delete_task_tags(t.id, ["a", "zzz"]).tags == ["b", "c"]
    assert client.set_task_tags(t.id, ["z"]).tags == ["z"]  # POST replaces

    other = client.create_task(TaskType.Categorization, attachment="y", categories=["a"], unique_id="taken")
    assert client.update_task_unique_id(t.id, "mine").unique_id == "mine"
    with pytest.raises(ScaleDuplicateResource):
        client.update_task_unique_id(t.id, "taken")
    assert "unique_id" not in client.clear_task_unique_id(t.id).as_dict()
    assert client.update_task_unique_id(other.id, "taken").unique_id == "taken"  # own id is fine

    log = requests_log(sim)
    tag_calls = [(r["method"], r["json"]) for r in log if r["path"] == f"/v1/task/{t.id}/tags"]
    assert tag_calls == [("POST", ["a", "b"]), ("PUT", ["b", "c"]), ("DELETE", ["a", "zzz"]), ("POST", ["z"])]
    meta_calls = [r for r in log if r["path"].endswith("/setMetadata")]
    assert meta_calls[0]["json"] == {"new": {"nested": True}}
    assert meta_calls[1]["body"] is None
    uid_calls = [(r["method"], r["json"]) for r in log if r["path"] == f"/v1/task/{t.id}/unique_id"]
    assert uid_calls == [("POST", {"unique_id": "mine"}), ("POST", {"unique_id": "taken"}), ("DELETE", None)]


# ---------------------------------------------------------------------------
# Evaluation tasks, teams, files, auth


def test_evaluation_task(client, sim):
    client.create_project("rapid", TaskType.ImageAnnotation, rapid=True)
    client.create_project("std", TaskType.ImageAnnotation)
    ev = client.create_evaluation_task(
        TaskType.ImageAnnotation,
        project="rapid",
        attachment="https://example.com/a.png",
        geometries={"box": {"objects_to_annotate": ["car"]}},
        expected_response={"annotations": {"car": []}},
        initial_response={"annotations": {"car": [{"left": 1}]}},
    )
    assert len(ev.id) == 24
    assert ev.expected_response == {"annotations": {"car": []}}
    d = ev.as_dict()
    assert d["initial_response"] == {"annotations": {"car": [{"left": 1}]}}
    assert d["project"] == "rapid" and d["type"] == "imageannotation"
    assert d["params"]["attachment"] == "https://example.com/a.png"

    with pytest.raises(ScaleInvalidRequest):
        client.create_evaluation_task(TaskType.ImageAnnotation, project="rapid", attachment="a")
    with pytest.raises(ScaleInvalidRequest):
        client.create_evaluation_task(TaskType.ImageAnnotation, project="std", attachment="a", expected_response={})
    assert requests_log(sim)[-1]["path"] == "/v1/evaluation_tasks/imageannotation"


def test_teams(client):
    team = client.list_teammates()
    assert [(m.email, m.role) for m in team] == [("admin@example.com", "admin")]

    invited = client.invite_teammates(["a@example.com", "b@example.com"], TeammateRole.Member)
    assert [(m.email, m.role) for m in invited] == [
        ("admin@example.com", "admin"),
        ("a@example.com", "member"),
        ("b@example.com", "member"),
    ]
    assert invited[1].expiry

    updated = client.update_teammates_role(["b@example.com"], TeammateRole.Manager)
    assert {m.email: m.role for m in updated}["b@example.com"] == "manager"
    assert {m.email: m.role for m in client.list_teammates()}["b@example.com"] == "manager"

    with pytest.raises(ScaleInvalidRequest):
        client.update_teammates_role(["admin@example.com"], TeammateRole.Member)
    with pytest.raises(ScaleInvalidRequest):
        client.update_teammates_role(["stranger@example.com"], TeammateRole.Member)
    with pytest.raises(ScaleInvalidRequest):
        client.invite_teammates(["c@example.com"], TeammateRole.Admin)  # not an invitable role
    with pytest.raises(ScaleInvalidRequest):
        client.invite_teammates(["not-an-email"], TeammateRole.Member)


def test_import_file(client):
    f = client.import_file("https://example.com/images/cat.PNG", project_name="rapid")
    d = f.as_dict()
    assert f.attachment_url.startswith("scaledata://") and f.attachment_url.endswith("/" + f.id)
    assert d["mime_type"] == "image/png"
    assert d["project_names"] == ["rapid"]
    assert d["size"] == 0 and d["created_at"] and d["updated_at"]
    with pytest.raises(ScaleInvalidRequest):
        client.import_file("ftp://example.com/cat.png")
    # The imported file's URL works as a task attachment.
    t = client.create_task(TaskType.ImageAnnotation, attachment=f.attachment_url, geometries={})
    assert t.params["attachment"] == f.attachment_url


def test_bad_api_key(sim):
    bad = scaleapi.ScaleClient("test_wrong_key", api_instance_url=sim["base"])
    with pytest.raises(ScaleUnauthorized):
        bad.projects()
    with pytest.raises(ScaleUnauthorized):
        bad.get_task("000000000000000000000000")


def test_wire_auth_header(client, sim):
    client.list_teammates()
    entry = requests_log(sim)[-1]
    assert entry["method"] == "GET" and entry["path"] == "/v1/teams"
    auth = entry["headers"]["authorization"]
    assert auth.startswith("Basic ")
    assert base64.b64decode(auth[len("Basic "):]).decode() == API_KEY + ":"  # empty password
