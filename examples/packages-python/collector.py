"""packages-python: a driftwatch packages collector, in Python.

Reports the Python distributions installed in site-packages folders (name,
version, summary, author), read from their core metadata by
distributions.py. componentize-py turns this module into a component of the
`packages-collector` world; build.sh says how.

Options (manifest `options`):
  paths  site-packages folders to read, separated by `:` (default: every
         python3* dist-packages and site-packages folder under /usr/local/lib,
         /usr/lib and /usr/lib64)
"""

import os
from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import packages
from wit_world.imports import log, types

import distributions

VERSION = "0.1.0"
BATCH = 500


def option(settings, key):
    for setting in settings.options:
        if setting.key == key:
            return setting.value
    return None


def timestamp(nanoseconds):
    if nanoseconds is None:
        return None
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    return types.Timestamp(seconds=seconds, nanoseconds=rest)


def record(found):
    return packages.Package(
        name=found.name,
        version=found.version,
        architecture="",
        publisher=found.publisher,
        description=found.summary,
        software_type=packages.SoftwareType.PACKAGE,
        install_state="installed",
        install_date=timestamp(found.installed),
    )


class Access(exports.Access):
    def default_grants(self) -> List[str]:
        return list(distributions.LIB_FOLDERS)


class Batches(packages.Batches):
    def __init__(self, records, summary):
        self.records = records
        self.done = summary

    def next(self) -> Optional[List[packages.Package]]:
        if not self.records:
            return None
        batch, self.records = self.records[:BATCH], self.records[BATCH:]
        return batch

    def summary(self) -> types.CollectionSummary:
        return self.done


class Packages(exports.Packages):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="packages-python",
            version=VERSION,
            kind=types.CollectorKind.PACKAGES,
            platforms=[types.OsFamily.LINUX, types.OsFamily.MACOS],
            description="Python distributions installed in site-packages (*.dist-info, *.egg-info)",
        )

    def probe(self) -> types.ProbeResult:
        # The probe is not given the options: it looks in the usual places,
        # unless the manifest's grants leave them all out (every Linux has a
        # /usr/lib), which says the folders to read are named in `paths`.
        folders = distributions.default_site_folders()
        if folders:
            return types.ProbeResult(applies=True, reason="site-packages in " + ", ".join(folders))
        if not any(os.path.isdir(lib) for lib in distributions.LIB_FOLDERS):
            return types.ProbeResult(applies=True, reason="granted other folders than the usual ones: reading `paths`")
        return types.ProbeResult(applies=False, reason="no site-packages folder in " + usual_places())

    def collect(self, settings: packages.Settings) -> packages.Batches:
        paths = option(settings, "paths")
        if paths is None:
            folders = distributions.default_site_folders()
            if not folders:
                raise Err(types.CollectError_NotFound("no site-packages folder in %s (name others in `paths`)" % usual_places()))
        else:
            folders = [p.rstrip("/") or "/" for p in paths.split(":") if p]
            if not folders:
                raise Err(types.CollectError_InvalidSettings("paths names no folder"))
            relative = [p for p in folders if not p.startswith("/")]
            if relative:
                raise Err(types.CollectError_InvalidSettings("paths: %s is not absolute" % relative[0]))
        result = distributions.collect(folders, explicit=paths is not None)
        if result.denied and not result.read:
            raise Err(types.CollectError_Unreadable(denied_message(result.denied)))
        log.log(log.Level.DEBUG, "%d distributions in %d folders" % (len(result.found), result.read))
        # What a denied or unlistable folder holds is unknown: nothing there may be taken as removed.
        unknown = []
        if result.denied:
            unknown.append(denied_message(result.denied))
        if result.unread:
            unknown.append("not listed: " + ", ".join(result.unread))
        summary = types.CollectionSummary(
            warnings=[types.Warning(subject=w.subject, message=w.message) for w in result.warnings],
            incomplete="; ".join(unknown) if unknown else None,
        )
        return Batches([record(f) for f in result.found], summary)


def usual_places():
    return ", ".join(lib + "/python3*" for lib in distributions.LIB_FOLDERS)


def denied_message(folders):
    return "denied: %s: not within a granted folder that exists (grant it in `grants`, and check that it exists)" % ", ".join(folders)
