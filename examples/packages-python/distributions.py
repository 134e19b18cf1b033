"""Python distributions installed in site-packages folders.

Pure Python with no tie to WebAssembly, so it runs under any CPython too
(see test_distributions.py). The component glue is in collector.py.

Formats read (the Python Packaging Authority's "core metadata"):
  NAME-VERSION.dist-info/METADATA  what pip and every installer writes
  NAME-VERSION.egg-info/PKG-INFO   setuptools' older layout (many distros'
  NAME-VERSION.egg-info            own python3-* packages), or that file alone
Both are email-style headers: "Name: requests", continuation lines indented.
"""

import os
import re

# Where interpreters keep installed distributions, in the order Python
# searches them: a distribution found twice counts where it is found first.
LIB_FOLDERS = ("/usr/local/lib", "/usr/lib", "/usr/lib64")
SITE_NAMES = ("dist-packages", "site-packages")


class Found:
    """One installed distribution."""

    def __init__(self, name, version, summary, publisher, installed, path):
        self.name = name
        self.version = version
        self.summary = summary
        self.publisher = publisher
        # Nanoseconds since the epoch (the metadata file's mtime), or None.
        self.installed = installed
        self.path = path


class ItemWarning:
    """An item skipped or read only in part; the run goes on."""

    def __init__(self, subject, message):
        self.subject = subject
        self.message = message


class Denied(Exception):
    """A folder outside what the collector was granted."""


def parse_headers(text):
    """The header fields of core metadata, as {lowercase name: value}.

    The first occurrence of a field wins; the body after the first blank
    line (the long description) is not read.
    """
    fields = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t":
            if last is not None:
                fields[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("not a header line: %r" % line[:60])
        key = name.strip().lower()
        last = key if key not in fields else None
        if last is not None:
            fields[key] = value.strip()
    return fields


def distribution(fields, path, installed):
    """A Found from parsed headers; ValueError names what is missing."""
    name = fields.get("name", "")
    version = fields.get("version", "")
    if not name:
        raise ValueError("no Name field")
    if not version:
        raise ValueError("no Version field")
    publisher = ""
    for field in ("author", "maintainer", "author-email", "maintainer-email"):
        value = fields.get(field, "")
        if value and value.upper() != "UNKNOWN":
            publisher = value
            break
    summary = fields.get("summary", "")
    if summary.upper() == "UNKNOWN":
        summary = ""
    return Found(name, version, summary, publisher, installed, path)


def metadata_file(folder, entry):
    """The metadata file of a site-packages entry, or None if it is not one."""
    if entry.endswith(".dist-info"):
        return os.path.join(folder, entry, "METADATA")
    if entry.endswith(".egg-info"):
        path = os.path.join(folder, entry)
        return os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
    return None


def is_outside_grants(path):
    """True when a path that cannot be found is outside every granted folder.

    Under WASI a path outside the preopened folders reads as "not found".
    On a real file system `/` always exists, so when neither the path nor
    any folder above it can be seen, the sandbox is hiding it (a grant that
    does not exist is not preopened either).
    """
    path = os.path.normpath(path)
    while True:
        if os.path.exists(path):
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def default_site_folders():
    """The site-packages folders found in the usual places."""
    folders = []
    for lib in LIB_FOLDERS:
        try:
            names = sorted(os.listdir(lib))
        except OSError:
            continue
        # python3.12 before python3.9: the newest interpreter first.
        pythons = [n for n in names if n == "python3" or n.startswith("python3.")]
        pythons.sort(key=python_order, reverse=True)
        for python in pythons:
            for site in SITE_NAMES:
                path = os.path.join(lib, python, site)
                if os.path.isdir(path):
                    folders.append(path)
    return folders


def python_order(name):
    """Sort key of `python3`, `python3.9`, `python3.12` (bare `python3` last)."""
    minor = name[len("python3."):]
    return int(minor) if minor.isdigit() else -1


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8")


def scan_folder(folder, seen, found, warnings):
    """Adds the distributions of one site-packages folder.

    Raises Denied if the folder is outside the grants, FileNotFoundError if
    it does not exist.
    """
    try:
        entries = sorted(os.listdir(folder))
    except FileNotFoundError:
        if is_outside_grants(folder):
            raise Denied(folder)
        raise
    except PermissionError:
        raise Denied(folder)
    for entry in entries:
        path = metadata_file(folder, entry)
        if path is None:
            continue
        try:
            text = read_text(path)
            installed = os.stat(path).st_mtime_ns
            item = distribution(parse_headers(text), path, installed)
        except (OSError, ValueError) as error:
            warnings.append(ItemWarning(path, reason(error)))
            continue
        key = normalized_name(item.name)
        if key in seen:
            # Shadowed by the same distribution earlier on the search path.
            continue
        seen.add(key)
        found.append(item)


def normalized_name(name):
    """A distribution's name as Python's packaging compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def reason(error):
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(error, FileNotFoundError):
        return "no metadata file"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


class Collected:
    """What a collection found, besides the distributions."""

    def __init__(self):
        self.found = []
        self.warnings = []
        # Folders the sandbox hides.
        self.denied = []
        # Folders that could not be listed for another reason: what they
        # hold is unknown, so nothing in them may be taken as removed.
        self.unread = []
        # Folders listed.
        self.read = 0


def collect(folders, explicit):
    """A Collected of the given folders.

    A default folder that cannot be seen is skipped; one named in the
    manifest (`explicit`) is a warning when absent, and denied when the
    sandbox hides it.
    """
    result, seen = Collected(), set()
    for folder in folders:
        try:
            scan_folder(folder, seen, result.found, result.warnings)
        except (Denied, FileNotFoundError) as error:
            # A default folder that is absent (or left out of the grants) is skipped.
            if not explicit:
                continue
            if isinstance(error, Denied):
                result.denied.append(folder)
            else:
                result.warnings.append(ItemWarning(folder, "no such folder"))
            continue
        except OSError as error:
            result.warnings.append(ItemWarning(folder, reason(error)))
            result.unread.append(folder)
            continue
        result.read += 1
    return result
