"""A real S3 API on loopback for the tests: moto's S3 server, in a thread of this process.

Moto keeps its buckets in this process, so a server stopped and started again on its port
still has them (a store that was down and came back). Moto checks no signature: what a
real store would check of a presigned URL, `signature_matches` checks here.
"""

import hashlib
import hmac
import logging
import re
import threading
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "sselfie-test-key"
SECRET_ACCESS_KEY = "sselfie-test-secret"
REGION = "us-east-1"


class MotoS3:
    """moto's S3 on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.port = 0
        self.endpoint_url = ""

    def start(self) -> "MotoS3":
        """Serves (again: on the same port, with the same buckets, after `stop`)."""
        from moto.server import ThreadedMotoServer  # imported by the tests that use it

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        host, self.port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{self.port}"
        return self

    def stop(self) -> None:
        """Closes the port: the store is unreachable until `start`."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def new_bucket(self) -> str:
        """A bucket of the caller's own."""
        name = f"sselfie-{uuid.uuid4().hex[:16]}"
        httpx.put(f"{self.endpoint_url}/{name}").raise_for_status()
        return name

    def keys(self, bucket: str) -> list[str]:
        return list_keys(self.endpoint_url, bucket)

    def anonymous_get(self, bucket: str, key: str) -> httpx.Response:
        """A GET of the object with no signature at all."""
        return httpx.get(f"{self.endpoint_url}/{bucket}/{key}")

    def public_read(self, bucket: str, key: str) -> bool:
        """Whether the object's ACL lets anyone read it (moto's own state: it serves in this
        process)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
        assert stored is not None, f"{bucket}/{key} is not stored"
        return stored.acl is not None and stored.acl.public_read

    def settings(self, bucket: str, prefix: str = "") -> dict[str, Any]:
        """`Settings` values storing images in `bucket` under `prefix`."""
        return {
            "storage_url": f"s3://{bucket}/{prefix}".rstrip("/"),
            "aws_endpoint_url": self.endpoint_url,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            "aws_region": REGION,
        }

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The same, as a server process's environment."""
        return {
            "STORAGE_URL": f"s3://{bucket}/{prefix}".rstrip("/"),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }


_shared: MotoS3 | None = None
_shared_bucket: str | None = None
_shared_lock = threading.Lock()


def shared_moto() -> MotoS3:
    """One server for the whole run, started on first use (and ended with the process)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MotoS3().start()
        return _shared


def shared_bucket() -> str:
    """One bucket of the shared server for the whole run (tests keep apart by prefix)."""
    global _shared_bucket
    moto = shared_moto()
    with _shared_lock:
        if _shared_bucket is None:
            _shared_bucket = moto.new_bucket()
        return _shared_bucket


def list_keys(endpoint_url: str, bucket: str, prefix: str = "") -> list[str]:
    """The keys in a moto bucket (under `prefix`), sorted."""
    params = {"list-type": "2", "prefix": prefix}
    response = httpx.get(f"{endpoint_url}/{bucket}", params=params)
    response.raise_for_status()
    return sorted(re.findall(r"<Key>([^<]*)</Key>", response.text))


def signature_matches(url: str, secret_access_key: str = SECRET_ACCESS_KEY) -> bool:
    """Whether a presigned GET URL carries the SigV4 signature a real store would compute
    for it with that secret (so one altered part, its expiry included, is refused)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    signed_query = "&".join(
        f"{_encode(name)}={_encode(value)}"
        for name, value in sorted(query)
        if name != "X-Amz-Signature"
    )
    canonical_request = "\n".join(
        ["GET", parts.path, signed_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    date, region, service, _ = scope.split("/")
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_access_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, params.get("X-Amz-Signature", ""))


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")
