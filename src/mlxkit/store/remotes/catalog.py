"""Which objects a remote holds in packs: the union of its indexes, with a local copy of each.

Indexes are immutable and named by the hash of their bytes, so a good copy never goes stale; the
remote's file can still be damaged after it was copied. `sync()` lists `index/` once and downloads
(checking each against its name) the indexes it has not seen, those whose listed size differs from
the copy's, and those found damaged before; it forgets those the remote no longer has. It then
lists `packs/` once: an index entry whose pack is absent, or has another size than the index says
(an interrupted push, a damaged upload), is ignored. A bad index is reported, not fatal: its objects
are simply not found there, even when this clone keeps a good copy of it (other clones cannot read
it). `restore_damaged()` (push, and fsck --repair) writes such a good copy back; `sync(reread=True)` (fsck
--read-data) downloads every index, to find damage that kept the size.

The copies live in `.mlx/remotes/<name>/index/`, beside a `url` file: a remote whose url changed
is another remote, and the copies of the old one are dropped. Beside each copy, `decoded/` keeps
what it decodes to in marshal's format: an index of 10^5 objects takes 0.4 s to parse and check as
JSON, and 0.03 s to load this way. A decoded file is used only beside the copy it was made from
(whose bytes are checked against its name every time), and one that cannot be loaded is decoded anew.
The names of indexes whose remote bytes were found damaged while the copy is good are kept in
`damaged`, so that every later sync checks them again until a push or fsck --repair has restored them.
"""

from __future__ import annotations

import marshal
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from mlxkit.cyclegc import collector_paused
from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.fs.atomic import unlink_quietly, write_atomic
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes
from mlxkit.store.remotes.fs import RemoteFS, RemoteNotFoundError
from mlxkit.store.remotes.layout import (
    INDEX,
    PACKS,
    Entry,
    PackEntries,
    decode_index,
    index_path,
    parse_index_name,
    parse_pack_name,
)

# Index name -> what it decodes to, or the problem found in it. A name is the hash of the bytes, so
# one name has one content wherever it comes from: the cache is shared by every remote.
_DECODED: dict[str, dict[str, PackEntries] | str] = {}
_NEWER_FORMAT: set[str] = set()  # names of indexes in a format this mlx does not read (a newer mlx's)
_MISMATCH = "its bytes do not match its name"
_NO_COPY = (  # {remote}: the remote's name
    _MISMATCH + " on the remote; in a clone that read it before, 'mlx fsck --remote {remote} --repair' "
    "(or 'mlx fsck --remote {remote} --read-data' then 'mlx push') writes its good copy back"
)
_RESTORABLE = (  # {remote}: the remote's name
    _MISMATCH + " on the remote; this clone has a good copy: 'mlx push' or 'mlx fsck --remote {remote} --repair' writes it back"
)


class Location(NamedTuple):
    pack: str  # the pack's hex
    offset: int
    length: int


class Catalog:
    def __init__(self, directory: Path, fs: RemoteFS) -> None:
        self.directory = directory
        self.fs = fs
        self.problems: dict[str, str] = {}  # bad index name -> what is wrong with it
        self.ignored_entries = 0  # entries naming a pack that is absent or of another size
        self._copies = directory / INDEX
        self._decoded = directory / "decoded"
        self._damaged_file = directory / "damaged"  # damaged on the remote, good here: one name a line
        self._restorable: set[str] = set()
        self._locations: dict[str, Location] = {}
        self._other_locations: dict[str, list[Location]] = {}  # an object in several packs: the rest
        self._packs: dict[str, int] = {}
        self._indexes: dict[str, dict[str, PackEntries]] = {}

    def locate(self, digest: Digest) -> Location | None:
        return self._locations.get(digest.hex)

    def locations(self, digest: Digest) -> list[Location]:
        """Every copy of the object in a pack (two pushes may both have sent it; a copy of the
        wrong length is damaged, and a push sends the object again)."""
        first = self._locations.get(digest.hex)
        return [] if first is None else [first, *self._other_locations.get(digest.hex, ())]

    def packed(self) -> set[str]:
        """The hex of every object the remote holds in a (present, complete) pack."""
        return set(self._locations)

    def packs(self) -> dict[str, int]:
        """Every pack on the remote (referenced or not): hex -> size, as listed by the last sync."""
        return dict(self._packs)

    def indexes(self) -> dict[str, dict[str, PackEntries]]:
        """Every good index of the last sync, by file name: what fsck checks and gc rewrites."""
        return dict(self._indexes)

    def newer_format(self) -> list[str]:
        """The bad indexes of the last sync that are in a newer format than this mlx reads: not
        damaged, but a newer mlx's (nothing may delete them)."""
        return sorted(name for name in self.problems if name in _NEWER_FORMAT)

    def sync(self, *, reread: bool = False) -> None:
        """`reread`: download every index again, to find remote damage that kept the file's size."""
        self._check_url()
        listed = {name: size for name, size in self.fs.list(INDEX).items() if parse_index_name(name)}
        copies = {name: _size(self._copies / name) for name in os.listdir(self._copies) if parse_index_name(name)}
        for name in copies.keys() - listed.keys():
            unlink_quietly(self._copies / name)
            unlink_quietly(self._decoded / name)
        self.problems = {}
        self._restorable = set()
        suspects = self._read_damaged()
        self._download(sorted(
            name for name, size in listed.items() if reread or copies.get(name) != size or name in suspects
        ))  # fmt: skip
        self._write_damaged()
        self._packs = {hex_: size for name, size in self.fs.list(PACKS).items() if (hex_ := parse_pack_name(name))}
        self._locations = {}
        self._other_locations = {}
        self._indexes = {}
        self.ignored_entries = 0
        with collector_paused():  # 10^5 entries decoded and located (a damaged copy is fetched again)
            for name in sorted(listed):
                packs = self._load(name)
                if packs is not None:
                    self._indexes[name] = packs
                    self._add(packs)

    def restore_damaged(self, *, partial: bool = False) -> list[str]:
        """Write back the good copy of every index damaged on the remote (one write: a temp file
        renamed on a directory, one PUT on S3); its objects are then located. Returns their names.
        A push restores only those whose packs are all there (never an index naming what is not
        there); `partial` (fsck --repair, which then drops the missing packs from it) restores every
        one. A copy is checked against its name as it is read: a bad one is never uploaded."""
        restored = []
        for name, (data, packs) in self._good_copies().items():
            if not partial and any(self._packs.get(pack.hex) != pack.size for pack in packs.values()):
                continue
            self.fs.write(index_path(name), data)
            self._restorable.discard(name)
            del self.problems[name]
            self._indexes[name] = packs
            self._add(packs)
            restored.append(name)
        if restored:
            self._write_damaged()
        return restored

    def restorable(self) -> dict[str, dict[str, PackEntries]]:
        """Indexes damaged on the remote of which this clone has a good copy: name -> its packs."""
        return {name: packs for name, (_data, packs) in self._good_copies().items()}

    def _good_copies(self) -> dict[str, tuple[bytes, dict[str, PackEntries]]]:
        """The copies of the indexes damaged on the remote, read now: name -> (bytes, packs), for
        those whose bytes still match their name and decode."""
        found = {}
        for name in sorted(self._restorable):
            try:
                data = (self._copies / name).read_bytes()
                if hash_bytes(data).hex == parse_index_name(name):
                    found[name] = (data, decode_index(name, data))
            except (FileNotFoundError, InvalidFileError, UnsupportedFormatError):  # as bad as the remote's
                continue
        return found

    def remember(self, name: str, data: bytes, packs: dict[str, PackEntries]) -> None:
        """Adopt an index this process has just written (`data`, encoded from `packs`, which are
        canonical_packs: as decode_index would return them), whose packs it has just uploaded: kept
        like a downloaded one, and its objects located at once."""
        self._check_url()
        write_atomic(self._copies / name, data, durable=False)
        self._keep_decoded(name, packs)
        _DECODED[name] = packs
        self._indexes[name] = packs
        self._packs.update((pack.hex, pack.size) for pack in packs.values())
        self._add(packs)

    def _check_url(self) -> None:
        url_file = self.directory / "url"
        self._copies.mkdir(parents=True, exist_ok=True)
        try:
            same = url_file.read_text(encoding="utf-8") == self.fs.url
        except FileNotFoundError:
            same = False
        if not same:
            for directory in (self._copies, self._decoded):
                for name in os.listdir(directory) if directory.is_dir() else ():
                    unlink_quietly(directory / name)
            unlink_quietly(self._damaged_file)
            write_atomic(url_file, self.fs.url.encode("utf-8"), durable=False)

    def _download(self, names: list[str]) -> None:
        if len(names) > 1 and self.fs.jobs > 1:
            with ThreadPoolExecutor(min(self.fs.jobs, len(names)), thread_name_prefix="mlx-index") as pool:
                list(pool.map(self._fetch, names))
        else:
            for name in names:
                self._fetch(name)

    def _fetch(self, name: str) -> bytes | None:
        """Download one index and keep a copy if its bytes match its name; None if they do not
        (a problem is recorded, and a good copy is kept) or if it is gone (deleted since the listing)."""
        try:
            data = self.fs.read(index_path(name))
        except RemoteNotFoundError:
            return None
        if hash_bytes(data).hex != parse_index_name(name):
            if self._good_copy(name):
                self._restorable.add(name)
                self.problems[name] = _RESTORABLE.format(remote=self.fs.name)
            else:
                self.problems[name] = _NO_COPY.format(remote=self.fs.name)
            return None
        write_atomic(self._copies / name, data, durable=False)
        return data

    def _good_copy(self, name: str) -> bool:
        try:
            return hash_bytes((self._copies / name).read_bytes()).hex == parse_index_name(name)
        except FileNotFoundError:
            return False

    def _read_damaged(self) -> set[str]:
        try:
            text = self._damaged_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return set()
        return {name for name in text.split() if parse_index_name(name)}

    def _write_damaged(self) -> None:
        if self._restorable:
            write_atomic(self._damaged_file, "".join(f"{name}\n" for name in sorted(self._restorable)).encode(), durable=False)
        else:
            unlink_quietly(self._damaged_file)

    def _load(self, name: str) -> dict[str, PackEntries] | None:
        if name in self.problems:  # its download did not match its name
            return None
        decoded = _DECODED.get(name)
        if decoded is None:
            try:
                data: bytes | None = (self._copies / name).read_bytes()
            except FileNotFoundError:
                return None
            if hash_bytes(data).hex != parse_index_name(name):  # the local copy is damaged
                data = self._fetch(name)
                if data is None:
                    return None
            decoded = self._load_decoded(name)
            if decoded is None:
                try:
                    decoded = decode_index(name, data)
                    self._keep_decoded(name, decoded)
                except InvalidFileError as exc:
                    decoded = exc.problem
                except UnsupportedFormatError as exc:
                    decoded = exc.message
                    _NEWER_FORMAT.add(name)
            _DECODED[name] = decoded
        if isinstance(decoded, str):
            self.problems[name] = decoded
            return None
        return decoded

    def _keep_decoded(self, name: str, packs: dict[str, PackEntries]) -> None:
        plain = {pack.hex: (pack.size, [tuple(entry) for entry in pack.entries]) for pack in packs.values()}
        self._decoded.mkdir(exist_ok=True)
        write_atomic(self._decoded / name, marshal.dumps(plain), durable=False)

    def _load_decoded(self, name: str) -> dict[str, PackEntries] | None:
        try:
            plain = marshal.loads((self._decoded / name).read_bytes())
            return {hex_: PackEntries(hex_, size, tuple(Entry(*entry) for entry in entries)) for hex_, (size, entries) in plain.items()}
        except Exception:  # noqa: BLE001 - a derived file: whatever is wrong with it, decode the index anew
            return None

    def _add(self, packs: dict[str, PackEntries]) -> None:
        for pack in packs.values():
            if self._packs.get(pack.hex) != pack.size:
                self.ignored_entries += len(pack.entries)
                continue
            for entry in pack.entries:
                location = Location(pack.hex, entry.offset, entry.length)
                first = self._locations.setdefault(entry.hex, location)
                if first != location and location not in self._other_locations.get(entry.hex, ()):
                    self._other_locations.setdefault(entry.hex, []).append(location)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
