"""Where archived weeks go: a local directory (`file://DIR`, the embedded default) or S3 (`s3://bucket/prefix`,
through boto3, storage class STANDARD_IA, any S3-compatible endpoint). Both offer the same few operations,
and both can read an object back, so the archiver verifies what was stored rather than what was sent."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_BYTES = 1 << 20
StorageClass = Literal["STANDARD", "STANDARD_IA"]
S3_STORAGE_CLASS: Final[StorageClass] = "STANDARD_IA"


class ObjectStore(Protocol):
    url: str

    def put_file(self, name: str, path: Path) -> None: ...

    def put_bytes(self, name: str, data: bytes) -> None: ...

    def get_file(self, name: str, dest: Path) -> None: ...

    def get_bytes(self, name: str) -> bytes | None:
        """The object's content, or None if there is none by that name."""
        ...

    def size(self, name: str) -> int | None: ...

    def chunks(self, name: str) -> Iterator[bytes]:
        """The object's content, read back from the store, in pieces."""
        ...

    def names(self) -> list[str]: ...

    def delete(self, name: str) -> None:
        """Remove the object if it exists."""
        ...


def sha256_of(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk


class DirectoryStore:
    """Objects as files in one directory; each written under a temporary name, fsynced, then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"

    def _path(self, name: str) -> Path:
        return self.root / name

    def put_file(self, name: str, path: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._path(name + ".part")
        with path.open("rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK_BYTES)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, self._path(name))

    def put_bytes(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._path(name + ".part")
        with tmp.open("wb") as dst:
            dst.write(data)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, self._path(name))

    def get_file(self, name: str, dest: Path) -> None:
        shutil.copyfile(self._path(name), dest)

    def get_bytes(self, name: str) -> bytes | None:
        path = self._path(name)
        return path.read_bytes() if path.is_file() else None

    def size(self, name: str) -> int | None:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else None

    def chunks(self, name: str) -> Iterator[bytes]:
        return file_chunks(self._path(name))

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_file() and not p.name.endswith(".part"))

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


class S3Store:
    """Objects under `prefix` in an S3 bucket; uploads use STANDARD_IA (written once, read rarely)."""

    def __init__(
        self, client: S3Client, bucket: str, prefix: str, storage_class: StorageClass = S3_STORAGE_CLASS
    ) -> None:
        self._client = client
        self._storage_class = storage_class
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self._prefix}"

    def _key(self, name: str) -> str:
        return self._prefix + name

    def put_file(self, name: str, path: Path) -> None:
        self._client.upload_file(
            str(path), self._bucket, self._key(name), ExtraArgs={"StorageClass": self._storage_class}
        )

    def put_bytes(self, name: str, data: bytes) -> None:
        self._client.put_object(
            Bucket=self._bucket, Key=self._key(name), Body=data, StorageClass=self._storage_class
        )

    def get_file(self, name: str, dest: Path) -> None:
        self._client.download_file(self._bucket, self._key(name), str(dest))

    def get_bytes(self, name: str) -> bytes | None:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=self._key(name))["Body"].read()
        except self._client.exceptions.NoSuchKey:
            return None

    def size(self, name: str) -> int | None:
        try:
            return self._client.head_object(Bucket=self._bucket, Key=self._key(name))["ContentLength"]
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def chunks(self, name: str) -> Iterator[bytes]:
        body = self._client.get_object(Bucket=self._bucket, Key=self._key(name))["Body"]
        yield from body.iter_chunks(CHUNK_BYTES)

    def names(self) -> list[str]:
        names: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix):
            names.extend(item["Key"][len(self._prefix) :] for item in page.get("Contents", []))
        return sorted(names)

    def delete(self, name: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=self._key(name))


def open_store(
    url: str, *, s3_endpoint_url: str | None = None, storage_class: StorageClass = S3_STORAGE_CLASS
) -> ObjectStore:
    """`file://DIR` (absolute, or relative to the working directory) or `s3://bucket/prefix`.
    `storage_class`: S3's, for what is uploaded (STANDARD_IA for weeks kept for ever; backups, kept for
    days, use STANDARD: infrequent-access storage bills 30 days at least)."""
    if url.startswith("file://"):
        return DirectoryStore(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}; expected s3://bucket/prefix")
        import boto3  # only an S3 archive needs it loaded

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        client = boto3.client("s3", endpoint_url=s3_endpoint_url, region_name=region)
        return S3Store(client, bucket, prefix, storage_class)
    raise ValueError(f"archive URL must be file://DIR or s3://bucket/prefix, not {url!r}")
