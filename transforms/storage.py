"""The one storage layer: every read and write of sieve (inputs, parts, shards, markers, manifest, report)
goes through here, for local paths, s3:// and gs:// alike.

Built on pyarrow.fs: pyarrow already writes our Parquet, its S3 and GCS clients are native code inside the
same wheel (no s3fs/aiobotocore pins fighting boto3), and its S3 client takes the standard AWS variables,
AWS_ENDPOINT_URL included. Object stores have no rename, so nothing here relies on one for remote paths:
an object appears whole when its upload completes; local files are written to a temp name and renamed.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import io
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# Arrow's buffers come from the C library's allocator, not from the mimalloc pool pyarrow bundles: mimalloc keeps the
# pages of freed buffers for reuse, so a long-lived process that reads and writes many Parquet files (a Dask worker
# running the corpus passes, a launcher) holds more memory the longer the run. On a Dask cluster (20,000 and 100,000
# documents) a worker's peak went 504 -> 391 MiB and 583 -> 449 MiB; wall time and shards unchanged (docs/scale.md).
# Arrow reads the variable once per process, at its first allocation: set here, it reaches every process started from
# now on (Beam workers, range processes, a local Dask cluster); this process switches its default pool itself. A
# value the user set decides instead. A Dask cluster started apart needs the variable in its workers' environment.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
if os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system":
    pa.set_memory_pool(pa.system_memory_pool())

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://")
# Sequential reads of remote objects are served from large ranged GETs, not one request per small read.
READ_BUFFER_BYTES = 8 << 20
GCS_RETRY_SECONDS = 30
# Tries of one S3 request, by both clients (pyarrow's and boto3's), before its failure is reported. The AWS standard
# retry waits a random part of 1, 2, 4, 8, 16 s between tries: a store that stays down is reported after about 15 s,
# 31 s at most. AWS_MAX_ATTEMPTS, the AWS SDKs' own variable for it, overrides.
S3_MAX_ATTEMPTS = 6
# The one S3 read failure that pyarrow's client does not retry although it is passing: an error answer (503 SlowDown,
# 500) to a small ranged read, whose XML body overflows the read's buffer and leaves only this message.
S3_BROKEN_READ = "Failed to flush response stream"
# How pyarrow's S3 client says, once every try failed, that the store did not answer or answered that it cannot now
# (HTTP 5xx): the AWS SDK's error type.
S3_UNREACHABLE = re.compile(
    r"AWS Error (NETWORK_CONNECTION|SERVICE_UNAVAILABLE|SLOW_DOWN|INTERNAL_FAILURE|UNKNOWN \(HTTP status 5\d\d\))"
)
# Requests in flight when many small objects are read or stat'ed: an object store answers each in milliseconds,
# one by one that would be minutes for a CommonCrawl snapshot's 90,000 files.
PARALLEL_REQUESTS = 32


class StorageError(OSError):
    """A location that cannot be read or written; the message names it and says what to check."""


@dataclass(frozen=True)
class FileEntry:
    uri: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Written:
    """A file's byte size and SHA-256, as written: markers record them, so a rerun tells the file that was written from
    a torn or replaced one."""

    size: int
    sha256: str


T = TypeVar("T")


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def absolute(uri: str) -> str:
    """A location that means the same thing from any working directory (local paths made absolute)."""
    return uri.rstrip("/") if is_remote(uri) else os.path.abspath(uri)


def join(base: str, *names: str) -> str:
    return "/".join([base.rstrip("/"), *(n.strip("/") for n in names)])


def relative(uri: str, base: str) -> str:
    """uri's path below base ("a/b.warc.gz"), with forward slashes on every filesystem."""
    return uri[len(base.rstrip("/")) + 1 :] if base else uri


def _hint(uri: str) -> str:
    if uri.startswith("s3://"):
        return "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION and AWS_ENDPOINT_URL"
    if is_remote(uri):
        return "check GOOGLE_APPLICATION_CREDENTIALS and the bucket name"
    return "check the path and its permissions"


# What a write that ran out of space says after its location; the CLI finds it in the errors that carry it as text
# (a Beam worker's, a range's child process's) and prints the line alone.
DISK_FULL = (
    "the disk is full (no space left on device): free space on it and run the same command again, which resumes from "
    "the work already finished"
)


def storage_error(uri: str, action: str, e: Exception) -> StorageError:
    """One line naming the location, the first line of the library's error, and what to check."""
    if isinstance(e, StorageError):  # already such a line, from a read below this one
        return e
    if getattr(e, "errno", None) == errno.ENOSPC:  # nothing to check: space to free, then the same command resumes
        return StorageError(f"cannot {action} {uri}: {DISK_FULL}")
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if uri.startswith("s3://") and _unreachable(e):  # nothing wrong with the request: the store, or the way to it
        hint = (
            f"the store did not answer after {s3_max_attempts()} tries: check AWS_ENDPOINT_URL and the network, then "
            "run the same command again, which resumes from the work already finished"
        )
        return StorageError(f"cannot {action} {uri}: {first} ({hint})")
    return StorageError(f"cannot {action} {uri}: {first} ({_hint(uri)})")


# A StorageError as a traceback shows it, inside the text of the error that carries it (a Beam worker's, a range's
# child process's), and the step that Beam adds to its message.
_CARRIED = re.compile(r"StorageError: (cannot \w+ [^\n]*?)(?: \[while running '[^\n]*'\])?$", re.MULTILINE)
_BEAM_STEP = re.compile(r" \[while running '[^\n]*'\]$")


def error_line(e: BaseException) -> str | None:
    """The line of the StorageError that e is or carries as text, without Beam's step; None when it carries none.
    What the CLI prints, alone, for a location that could not be read or written wherever it was met."""
    if isinstance(e, StorageError):
        return _BEAM_STEP.sub("", str(e))
    found = _CARRIED.search(str(e))
    return found.group(1) if found else None


def _unreachable(e: Exception) -> bool:
    """Whether an S3 client's error, after all its tries, says the store did not answer or could not serve (5xx)."""
    if type(e).__module__ == "botocore.exceptions":
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        if isinstance(e, ClientError):
            return e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        return isinstance(e, ConnectionError | HTTPClientError)
    return bool(S3_UNREACHABLE.search(str(e)))


def s3_max_attempts() -> int:
    """Tries of one S3 request before its failure is reported: AWS_MAX_ATTEMPTS, else S3_MAX_ATTEMPTS."""
    return int(os.environ.get("AWS_MAX_ATTEMPTS") or S3_MAX_ATTEMPTS)


def retry_seconds() -> float:
    """The longest one request's retries may wait in all before its failure is reported (the AWS standard retry waits
    at most 2**i s, capped at 20, before try i + 2; GCS gives up after GCS_RETRY_SECONDS)."""
    return max(sum(min(2**i, 20) for i in range(s3_max_attempts() - 1)), GCS_RETRY_SECONDS)


@cache
def _filesystem(scheme: str, bucket: str) -> pafs.FileSystem:
    if scheme != "s3://":
        # GCS retries for 15 minutes by default: missing credentials would look like a hang, not an error.
        return pafs.GcsFileSystem(retry_time_limit=timedelta(seconds=GCS_RETRY_SECONDS))
    # What FileSystem.from_uri builds (the endpoint from the AWS variables, else the bucket's own region), with the
    # retries of S3_MAX_ATTEMPTS. Delayed open: a file smaller than one upload part is written with one PutObject on
    # close, not a multipart upload of three requests (a run's markers and most of its shards).
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return pafs.S3FileSystem(
        region=None if endpoint else pafs.resolve_s3_region(bucket),
        endpoint_override=endpoint,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=s3_max_attempts()),
        allow_delayed_open=True,
    )


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem that holds uri and the path inside it (one cached client per scheme and bucket)."""
    for scheme in REMOTE_SCHEMES:
        if uri.startswith(scheme):
            bucket = uri[len(scheme) :].split("/", 1)[0]
            try:
                return _filesystem(scheme, bucket), uri[len(scheme) :].rstrip("/")
            except (OSError, ValueError, pa.ArrowException) as e:
                raise storage_error(uri, "reach", e) from None
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def _info(uri: str) -> pafs.FileInfo:
    fs, path = resolve(uri)
    try:
        return fs.get_file_info(path)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "read", e) from None


def exists(uri: str) -> bool:
    return _info(uri).type != pafs.FileType.NotFound


def is_file(uri: str) -> bool:
    return _info(uri).type == pafs.FileType.File


def is_dir(uri: str) -> bool:
    """A local directory, or a remote prefix with at least one object below it."""
    info = _info(uri)
    if info.type == pafs.FileType.Directory:
        return True
    return is_remote(uri) and info.type == pafs.FileType.NotFound and bool(list_files(uri, limit=1))


def stat(uri: str) -> FileEntry:
    info = _info(uri)
    if info.type != pafs.FileType.File:
        raise StorageError(f"not a file: {uri}")
    return FileEntry(uri, info.size, info.mtime_ns or 0)


def _listing(uri: str, fs: pafs.FileSystem, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
    """fs's listing of selector. Arrow's local listing says "not found" for a folder another process creates while
    it looks (measured: 4 in 300 races), although the selector allows a missing folder; a second look sees it."""
    try:
        try:
            return fs.get_file_info(selector)
        except FileNotFoundError:
            if is_remote(uri):
                raise
            return fs.get_file_info(selector)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "list", e) from None


def list_files(uri: str, limit: int | None = None) -> list[FileEntry]:
    """Every file below uri (recursive), sorted by location; empty when there is none."""
    fs, path = resolve(uri)
    prefix = uri.split("://", 1)[0] + "://" if is_remote(uri) else ""
    infos = _listing(uri, fs, pafs.FileSelector(path, recursive=True, allow_not_found=True))
    files = sorted(
        (FileEntry(prefix + i.path, i.size, i.mtime_ns or 0) for i in infos if i.type == pafs.FileType.File),
        key=lambda f: f.uri,
    )
    return files[:limit] if limit is not None else files


def list_folders(uri: str) -> list[str]:
    """Names of the folders (prefixes) right below uri, sorted; one listing request, not a walk of the tree."""
    fs, path = resolve(uri)
    infos = _listing(uri, fs, pafs.FileSelector(path, recursive=False, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def glob(pattern: str) -> tuple[str, list[FileEntry]]:
    """(the folder above the first wildcard, the files below it matching pattern); `*` may cross folders."""
    parts = pattern.split("/")
    first_wild = next(i for i, p in enumerate(parts) if any(c in p for c in "*?["))
    base = "/".join(parts[:first_wild]) or "/"
    pattern = absolute(pattern) if not is_remote(pattern) else pattern
    base = absolute(base) if not is_remote(base) else base
    return base, [f for f in list_files(base) if fnmatch.fnmatchcase(f.uri, pattern)]


def open_input(uri: str, start: int = 0) -> io.BufferedIOBase:
    """A buffered binary reader positioned at byte start."""
    fs, path = resolve(uri)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            f = open(path, "rb")
        else:
            f = io.BufferedReader(_RemoteFile(uri, fs.open_input_file(path)), buffer_size=READ_BUFFER_BYTES)
        f.seek(start)
        return f
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "read", e) from None


class _RemoteFile(io.RawIOBase):
    """A remote object read by ranges, each range whole or not at all: a range whose answer broke off is asked for
    again (up to s3_max_attempts() tries), so no reader ever gets truncated bytes."""

    def __init__(self, uri: str, f: pa.NativeFile) -> None:
        super().__init__()
        self.uri, self.f, self.pos, self.size = uri, f, 0, f.size()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = max(0, offset + (0, self.pos, self.size)[whence])
        return self.pos

    def readinto(self, buffer: Any) -> int:
        want = max(0, min(len(buffer), self.size - self.pos))
        tries = s3_max_attempts()
        for attempt in range(tries):
            if attempt:
                time.sleep(random.uniform(0, 2 ** (attempt - 1)))  # the wait of the AWS standard retry
            try:
                data = self.f.read_at(want, self.pos)
            except (OSError, pa.ArrowException) as e:
                if S3_BROKEN_READ not in str(e) or attempt + 1 == tries:
                    raise storage_error(self.uri, "read", e) from None
                continue
            if len(data) == want:
                buffer[:want] = data
                self.pos += want
                return want
        raise StorageError(
            f"cannot read {self.uri}: {tries} answers in a row ended before byte {self.pos + want} of {self.size} "
            f"({_hint(self.uri)})"
        )

    def readall(self) -> bytes:
        """The rest of the object, read READ_BUFFER_BYTES at a time (io's default would ask for 8 KB at a time)."""
        chunks = []
        while chunk := self.read(READ_BUFFER_BYTES):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.f.close()
        super().close()


def read_bytes(uri: str) -> bytes:
    with open_input(uri) as f:
        return f.read()


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def _write(uri: str, write: Callable[[str, pafs.FileSystem], T]) -> T:
    """Write through write(path, filesystem): locally to a temp name renamed into place, remotely in one upload.
    Returns what write returns."""
    fs, path = resolve(uri)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
            try:
                result = write(tmp, fs)
                os.replace(tmp, path)
            except BaseException:  # a write cut short (a full disk, a stop) leaves no temp file behind
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return result
        return write(path, fs)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "write", e) from None


def write_bytes(uri: str, data: bytes) -> None:
    def put(path: str, fs: pafs.FileSystem) -> None:
        with fs.open_output_stream(path) as out:
            out.write(data)

    _write(uri, put)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


@cache
def _s3_client() -> Any:
    import boto3  # pyarrow's S3 client makes no conditional writes; boto3 takes the same AWS variables
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": s3_max_attempts()}))


def create_exclusive(uri: str, data: bytes) -> bool:
    """Write uri whole only if nothing is there yet; False when something is (another writer was first). One atomic
    step on the store, no read-then-write race: S3 PutObject with If-None-Match: *; locally a hard link of a finished
    temp file (atomic on local and network filesystems, NFS included)."""
    fs, path = resolve(uri)
    if uri.startswith("s3://"):
        return _put_if_absent(uri, path, data)
    if not isinstance(fs, pafs.LocalFileSystem):
        raise StorageError(f"cannot write {uri} only-if-absent: only local and s3:// locations support it")
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return True
    except OSError as e:
        raise storage_error(uri, "write", e) from None


def _put_if_absent(uri: str, path: str, data: bytes) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = path.split("/", 1)
    try:
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        return True
    except ClientError as e:
        # 412: the object exists; 409: another conditional write of it is in flight, and that one wins.
        if e.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise storage_error(uri, "write", e) from None
    except BotoCoreError as e:
        raise storage_error(uri, "write", e) from None


class _Hashing(io.RawIOBase):
    """A write-only stream that counts and hashes the bytes it passes on to out."""

    def __init__(self, out: pa.NativeFile) -> None:
        super().__init__()
        self.out, self.size, self.sha256 = out, 0, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)


def write_parquet(
    uri: str, schema: pa.Schema, tables: Iterable[pa.Table], compression: str | None, row_group_rows: int | None = None
) -> Written:
    """Write tables, in order, as one Parquet file in row groups of row_group_rows rows. Tables are consumed one by
    one, so memory holds about one row group, and the bytes are those of writing all the rows at once. Returns the
    file's size and SHA-256, hashed as it is written (no second read)."""

    def write(path: str, fs: pafs.FileSystem) -> Written:
        with fs.open_output_stream(path) as sink:
            hashing = _Hashing(sink)
            with pq.ParquetWriter(hashing, schema, compression=compression) as out:
                for group in _row_groups(tables, row_group_rows):
                    out.write_table(group, row_group_size=row_group_rows)
        return Written(hashing.size, hashing.sha256.hexdigest())

    return _write(uri, write)


def checksum(uri: str) -> Written:
    """A file's size and SHA-256, read back whole: what a rerun compares with what a marker recorded."""
    digest, size = hashlib.sha256(), 0
    with open_input(uri) as f:
        try:
            while chunk := f.read(READ_BUFFER_BYTES):
                digest.update(chunk)
                size += len(chunk)
        except (OSError, pa.ArrowException) as e:
            raise storage_error(uri, "read", e) from None
    return Written(size, digest.hexdigest())


def _row_groups(tables: Iterable[pa.Table], rows: int | None) -> Iterator[pa.Table]:
    """The rows of tables regrouped into tables of exactly `rows` rows (the last one shorter)."""
    if rows is None:
        yield from tables
        return
    pending: list[pa.Table] = []
    for table in tables:
        pending.append(table)
        while sum(t.num_rows for t in pending) >= rows:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, rows)
            pending = [merged.slice(rows)]
    if sum(t.num_rows for t in pending):
        yield pa.concat_tables(pending)


def read_parquet(uri: str, schema: pa.Schema | None = None, columns: list[str] | None = None) -> pa.Table:
    fs, path = resolve(uri)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            return pq.read_table(path, schema=schema, columns=columns)
        with _RemoteFile(uri, fs.open_input_file(path)) as f:
            if f.size <= READ_BUFFER_BYTES:  # one GET for the whole file, not one for its footer and one per column
                return pq.read_table(pa.BufferReader(f.readall()), schema=schema, columns=columns)
            return pq.read_table(f, schema=schema, columns=columns)  # unbuffered: the byte ranges Parquet needs
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "read", e) from None


def delete(uri: str) -> None:
    """Remove a file; a missing one is fine."""
    _remove(uri, lambda fs, path: fs.delete_file(path), exists)


def delete_tree(uri: str) -> None:
    """Remove a folder (or prefix) and everything below it; a missing one is fine."""
    _remove(uri, lambda fs, path: fs.delete_dir(path), lambda u: bool(list_files(u, limit=1)))


def _remove(uri: str, remove: Callable[[pafs.FileSystem, str], None], still_there: Callable[[str], bool]) -> None:
    fs, path = resolve(uri)
    try:
        remove(fs, path)
    except FileNotFoundError:
        pass
    except (OSError, pa.ArrowException) as e:  # some stores report a missing path as a generic error
        if still_there(uri):
            raise storage_error(uri, "delete", e) from None
