"""The file backend on S3, through s3fs, against moto's S3 server on 127.0.0.1 (a real HTTP
S3 API, started and stopped by the fixture); it declares no MULTI_PROCESS there."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.errors import StorageError
from omniq.storage import Capability
from omniq.testing import BackendConformance, server_unavailable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        server_unavailable("moto[server] is not installed")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _options(endpoint: str) -> dict[str, Any]:
    return {
        "key": "testing",
        "secret": "testing",
        "endpoint_url": endpoint,
        "client_kwargs": {"region_name": "us-east-1"},
        "use_listings_cache": False,
    }


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> str:
    import boto3

    name = f"omniq-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    return name


class TestS3(BackendConformance):
    backend_name = "file"
    volume = 0.1  # every file is an HTTP request to moto (about 7 ms each)

    @pytest.fixture
    def backend_factory(self, s3_endpoint: str, bucket: str) -> Callable[[], Backend]:
        uri = f"s3://{bucket}/run-{uuid.uuid4().hex[:8]}"
        return lambda: omniq.load_backend(
            "file", fsspec_uri=uri, storage_options=_options(s3_endpoint)
        )


async def test_object_stores_do_not_claim_multi_process(s3_endpoint: str, bucket: str) -> None:
    backend = omniq.load_backend(
        "file", fsspec_uri=f"s3://{bucket}/caps", storage_options=_options(s3_endpoint)
    )
    try:
        assert Capability.MULTI_PROCESS not in backend.capabilities("task_queue")
        assert Capability.PERSISTENT in backend.capabilities("task_queue")
    finally:
        await backend.close()


async def test_a_missing_bucket_is_a_clear_error(s3_endpoint: str) -> None:
    backend = omniq.load_backend(
        "file", fsspec_uri="s3://no-such-bucket-x/p", storage_options=_options(s3_endpoint)
    )
    try:
        with pytest.raises(StorageError, match="bucket exists"):
            await backend.task_queue().connect()
    finally:
        await backend.close()
