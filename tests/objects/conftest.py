"""A real S3 protocol server for the object-store tests: moto's, on a loopback port, started once
for this folder's tests and stopped after them (the AWS variables are put back then); each test
gets a bucket of its own. The standard AWS variables point every client at it (boto3 in this
process, Polars' reader, and the `spendlake` processes the tests start)."""

from __future__ import annotations

import os
import uuid

import pytest

LEASE_SECONDS = "2"  # a killed holder frees the lake after 2 s here (30 s by default)


@pytest.fixture(scope="package")
def s3_server():
    import logging
    from moto.server import ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # (one line per request otherwise)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "spendlake-test",
                "AWS_SECRET_ACCESS_KEY": "spendlake-test", "AWS_DEFAULT_REGION": "us-east-1",
                "SPENDLAKE_LEASE_SECONDS": LEASE_SECONDS}
    before = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    yield settings["AWS_ENDPOINT_URL"]
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture
def s3_lake(s3_server) -> str:
    """The address of a lake in a fresh bucket."""
    import boto3
    bucket = f"spend-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/team"
