"""push_to on object stores: a real S3-compatible server (moto's) on 127.0.0.1, and memory://.

A version is complete only with its `.complete` marker (written last), versions increase, the
same model is not copied again, what a killed push left is cleaned by the next one, and backend
failures (no bucket, unreachable endpoint) are PushErrors naming the URL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from headwater.io.processes import free_port
from headwater.pusher import Destination, PushError, latest_complete_version, push_to


def _options(endpoint: str) -> dict:
    """As conftest's s3_options: fake keys, quick failure when unreachable."""
    return {
        "key": "testing",
        "secret": "testing",
        "endpoint_url": endpoint,
        "client_kwargs": {"region_name": "eu-west-1"},
        "config_kwargs": {"connect_timeout": 2, "retries": {"max_attempts": 1}},
        "skip_instance_cache": True,
    }


pytestmark = pytest.mark.integration


def _model(path: Path, marker: str, files: int = 1) -> str:
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_text(marker)
    for i in range(files):
        (path / "variables" / f"variables-{i:05d}").write_text(marker * 3)
    (path / "variables" / "variables.index").write_text(marker * 2)
    return str(path)


def _objects(fs, root: str) -> dict[str, str]:
    fs.invalidate_cache()
    return {
        p[len(root) + 1 :]: fs.cat_file(p).decode() for p in fs.find(root) if not p.endswith("/")
    }


def test_s3_push_publishes_files_then_marker(bucket, tmp_path):
    destination, fs, name = bucket
    model = _model(tmp_path / "m", "a")
    before = int(time.time())
    result = push_to(model, destination())
    version = int(result.version)
    assert before <= version <= int(time.time())
    assert result.destination == f"s3://{name}/penguin/{version}"
    objects = _objects(fs, f"{name}/penguin")
    marker = json.loads(objects.pop(f"{version}.complete"))
    assert objects == {
        f"{version}/saved_model.pb": "a",
        f"{version}/variables/variables-00000": "aaa",
        f"{version}/variables/variables.index": "aa",
    }  # no staging prefix left behind
    assert marker["version"] == version
    assert sorted(marker["files"]) == [
        "saved_model.pb",
        "variables/variables-00000",
        "variables/variables.index",
    ]
    assert latest_complete_version(fs, f"{name}/penguin") == version


def test_s3_versions_increase_and_identical_model_is_not_copied(bucket, tmp_path):
    destination, fs, name = bucket
    first = push_to(_model(tmp_path / "a", "same"), destination())
    again = push_to(_model(tmp_path / "b", "same"), destination())
    assert again.reused
    assert (again.version, again.destination) == (first.version, first.destination)
    changed = push_to(_model(tmp_path / "c", "other"), destination())
    third = push_to(_model(tmp_path / "d", "third"), destination())
    assert int(first.version) < int(changed.version) < int(third.version)
    assert not changed.reused
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{name}/penguin")) == sorted(
        [first.version, changed.version, third.version]
        + [f"{v}.complete" for v in (first.version, changed.version, third.version)]
    )


def test_memory_destination(tmp_path):
    url = f"memory://headwater-test-{uuid.uuid4().hex}/penguin"
    first = push_to(_model(tmp_path / "a", "m1"), url)
    second = push_to(_model(tmp_path / "b", "m2"), url)
    assert int(second.version) > int(first.version)
    assert push_to(_model(tmp_path / "c", "m2"), url).version == second.version


def test_leftovers_of_an_interrupted_push_are_removed_and_never_loaded(bucket, tmp_path):
    destination, fs, name = bucket
    good = push_to(_model(tmp_path / "a", "good"), destination())
    # What a push killed during its server-side copy leaves: its staging prefix and a numeric
    # version without marker, the same state the SIGKILL test below reaches by chance.
    dead = int(good.version) + 5
    base = f"{name}/penguin"
    fs.pipe_file(f"{base}/.staging-{dead}-deadbeef/saved_model.pb", b"half")
    fs.pipe_file(f"{base}/.staging-{dead}-deadbeef/variables/variables.index", b"half")
    fs.pipe_file(f"{base}/{dead}/variables/variables.index", b"half")
    assert latest_complete_version(fs, base) == int(good.version)  # readers skip it
    rerun = push_to(_model(tmp_path / "b", "next"), destination())
    assert int(rerun.version) > dead  # versions increase past anything a server may have seen
    names = sorted(p.rsplit("/", 1)[1] for p in (fs.invalidate_cache() or fs.ls(base)))
    assert names == sorted(
        [good.version, f"{good.version}.complete", rerun.version, f"{rerun.version}.complete"]
    )
    assert _objects(fs, f"{base}/{good.version}")["saved_model.pb"] == "good"


_KILLED_PUSHER = """
import sys
from headwater.pusher import Destination, push_to
options = {"key": "testing", "secret": "testing", "endpoint_url": sys.argv[3],
           "client_kwargs": {"region_name": "eu-west-1"}}
push_to(sys.argv[1], Destination(url=sys.argv[2], storage_options=options))
"""


def test_push_killed_half_way_leaves_nothing_published_and_rerun_succeeds(
    bucket, s3_server, tmp_path
):
    destination, fs, name = bucket
    good = push_to(_model(tmp_path / "a", "good"), destination())
    big = _model(tmp_path / "big", "x", files=150)
    base = f"{name}/penguin"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PUSHER, big, f"s3://{base}", s3_server],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    staged = False
    while time.monotonic() < deadline and child.poll() is None and not staged:
        fs.invalidate_cache()
        staged = any(".staging-" in p for p in fs.ls(base))
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    if not staged:
        pytest.fail(f"the push ended before it could be killed: {child.stderr.read()!r}")
    # Killed half-way: a new version is complete (all its files, had the kill come after its
    # marker) or not there for readers at all; the old one is untouched.
    newest = latest_complete_version(fs, base)
    if newest != int(good.version):
        assert len(_objects(fs, f"{base}/{newest}")) == 152
    assert _objects(fs, f"{base}/{good.version}")["saved_model.pb"] == "good"
    rerun = push_to(big, destination())
    assert int(rerun.version) > int(good.version)
    fs.invalidate_cache()
    assert not any(".staging-" in p for p in fs.ls(base))
    assert len(_objects(fs, f"{base}/{rerun.version}")) == 152


def test_missing_bucket_is_a_push_error_naming_the_url(s3_server, tmp_path):
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/penguin"
    with pytest.raises(PushError, match=r"no-such-bucket-.*cannot push to the destination"):
        push_to(
            _model(tmp_path / "a", "a"),
            Destination(url=url, storage_options=_options(s3_server)),
        )


def test_unreachable_endpoint_is_a_push_error(tmp_path):
    port = free_port()  # nothing listens there
    url = "s3://models/penguin"
    destination = Destination(url=url, storage_options=_options(f"http://127.0.0.1:{port}"))
    with pytest.raises(PushError, match=r"s3://models/penguin: cannot push .*unreachable"):
        push_to(_model(tmp_path / "a", "a"), destination)


def test_unknown_protocol_is_a_push_error(tmp_path):
    with pytest.raises(PushError, match="no filesystem for this destination"):
        push_to(_model(tmp_path / "a", "a"), "nosuchproto://bucket/models")


def test_local_paths_keep_the_rename_push(tmp_path):
    model = _model(tmp_path / "a", "a")
    result = push_to(model, f"file://{tmp_path}/serving")
    assert result.destination == os.path.join(f"{tmp_path}/serving", result.version)
    assert os.listdir(tmp_path / "serving") == [result.version]


@pytest.fixture(scope="module")
def iam_s3():
    """A moto S3 server enforcing IAM after its setup: (endpoint, {user: keys})."""
    port = free_port()
    setup_actions = 7  # create_bucket + 2 x (create_user, put_user_policy, create_access_key)
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(setup_actions))
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto server did not start")
            time.sleep(0.1)
    try:
        yield endpoint, _iam_users(endpoint)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _iam_users(endpoint: str) -> dict[str, tuple[str, str]]:
    """A bucket, a writer (s3:*) and a reader (get/list only); their access keys."""
    import boto3

    kw = {
        "endpoint_url": endpoint,
        "region_name": "eu-west-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    boto3.client("s3", **kw).create_bucket(
        Bucket="guarded-models", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    iam = boto3.client("iam", **kw)
    keys = {}
    for user, actions in (("writer", ["s3:*"]), ("reader", ["s3:GetObject", "s3:ListBucket"])):
        iam.create_user(UserName=user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
    return keys


def test_destination_without_write_permission_is_a_push_error(iam_s3, tmp_path):
    endpoint, keys = iam_s3

    def as_user(user: str) -> Destination:
        options = _options(endpoint)
        options["key"], options["secret"] = keys[user]
        return Destination(url="s3://guarded-models/penguin", storage_options=options)

    first = push_to(_model(tmp_path / "a", "first"), as_user("writer"))
    with pytest.raises(
        PushError,
        match=r"s3://guarded-models/penguin: cannot push to the destination: permission denied",
    ):
        push_to(_model(tmp_path / "b", "second"), as_user("reader"))
    fs, base = as_user("reader").filesystem()
    assert latest_complete_version(fs, base) == int(first.version)  # nothing lost
    assert fs.cat_file(f"{base}/{first.version}/saved_model.pb") == b"first"
    assert int(push_to(_model(tmp_path / "c", "second"), as_user("writer")).version) > int(
        first.version
    )  # the same push with permission succeeds
