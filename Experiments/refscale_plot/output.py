"""Writing the figures: PNG and SVG of each, named `<first file's stem>-<kind>-<host>`, saved
under temporary names in the output directory and renamed only when every one has been written,
so a failure leaves no partial figure behind."""

from __future__ import annotations

import os
import re
import sys
import tempfile

def _safe(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "host"


def output_names(paths, host_figures, out_dir):
    stem = os.path.splitext(os.path.basename(paths[0]))[0]
    names = []
    for entry in host_figures:
        for kind in entry.figures:
            for extension in ("png", "svg"):
                host = "" if entry.host is None else f"-{_safe(entry.host)}"
                names.append((entry, kind, extension,
                              os.path.join(out_dir, f"{entry.stem or stem}-{kind}{host}.{extension}")))
    return names


def _save(jobs, umask):
    for figure, temporary, extension in jobs:
        figure.savefig(temporary, format=extension, dpi=110 if extension == "png" else None)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes files private; figures are not


def _save_in_two_processes(jobs, umask):
    """Saves half of the files in a forked copy of this process and half here: drawing is all
    Python and one core's worth, and with many series it is most of the run time. Falls back
    to one process where there is no fork or too little to share."""
    if not hasattr(os, "fork") or len(jobs) < 4 or (os.cpu_count() or 1) < 2:
        _save(jobs, umask)
        return
    # Jobs come as (PNG, SVG) pairs of one figure, and a PNG takes two or three times as long
    # as its SVG: each process takes the PNG of every other figure and the SVG of the rest.
    mine = [job for index, job in enumerate(jobs) if (index // 2 + index % 2) % 2 == 0]
    theirs = [job for index, job in enumerate(jobs) if (index // 2 + index % 2) % 2 == 1]
    reader, writer = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(reader)
        try:
            _save(theirs, umask)
            code = 0
        except BaseException as error:  # reported by the parent, as one line
            os.write(writer, (getattr(error, "strerror", None) or str(error) or type(error).__name__).encode())
            code = 1
        os._exit(code)
    os.close(writer)
    try:
        _save(mine, umask)
    finally:
        with os.fdopen(reader, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        _, status = os.waitpid(child, 0)
    if status != 0:
        raise OSError(f"writing figures failed: {message or 'the forked process died'}")


def write_figures(paths, host_figures, out_dir):
    """Saves every figure under a temporary name in out_dir, then renames them all; on any error
    removes what it wrote. Returns the final paths."""
    os.makedirs(out_dir, exist_ok=True)
    planned = output_names(paths, host_figures, out_dir)
    umask = os.umask(0)
    os.umask(umask)
    written = []
    try:
        jobs = []
        for entry, kind, extension, final in planned:
            descriptor, temporary = tempfile.mkstemp(prefix=".plot-", suffix=f".{extension}", dir=out_dir)
            os.close(descriptor)
            written.append((temporary, final))
            jobs.append((entry.figures[kind], temporary, extension))
        _save_in_two_processes(jobs, umask)
        for temporary, final in written:
            os.replace(temporary, final)
    except BaseException:
        for temporary, _ in written:
            if os.path.exists(temporary):
                os.remove(temporary)
        raise
    return [final for _, _, _, final in planned]


