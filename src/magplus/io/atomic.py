"""Output-path safety: write to a temporary file beside the target, then rename.

A crash or an error never leaves a half-written output, and an output can never overwrite one
of the inputs.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import OutputPathError


def check_output_path(
    output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = (), overwrite: bool = True
) -> Path:
    """Validate an output path before any work starts.

    Args:
        output: the file to be written.
        inputs: input paths it must differ from.
        overwrite: if False, an existing output is an error.

    Returns:
        The output as an absolute :class:`Path`.

    Raises:
        OutputPathError: its folder does not exist or is not writable, it is a folder, or it is one
            of the inputs.
    """
    out = Path(output).expanduser().absolute()
    _check_parent(out)
    if out.is_dir():
        raise OutputPathError(f"output {str(out)!r} is a folder; give a file name.")
    for item in inputs:
        if item is None:
            continue
        src = Path(item).expanduser().absolute()
        if src == out or (src.exists() and out.exists() and os.path.samefile(src, out)):
            raise OutputPathError(f"output {str(out)!r} is the same file as an input; choose another name.")
    if not overwrite and out.exists():
        raise OutputPathError(f"output {str(out)!r} already exists; remove it or allow overwriting.")
    return out


#: Names of what an interrupted writer leaves beside its target (a SIGKILL runs no clean-up):
#: ``.{stem}.{8 random chars}.part{ext}`` files / folders from mkstemp / mkdtemp below, and the
#: ``.{name}.old`` backup of a replaced folder.
_LEFTOVER = re.compile(r"^\.(?P<stem>.+)\.[a-z0-9_]{8}\.part(?P<ext>(\.[^.]*)?)$")
_BACKUP = re.compile(r"^\.(?P<name>.+)\.old$")


def leftover_target(name: str) -> str | None:
    """The output name that a leftover temporary entry ``name`` of :func:`atomic_output` or
    :func:`atomic_output_dir` belongs to (``".clip.k2j4h1x0.part.mp4"`` -> ``"clip.mp4"``), else None.

    Lets a resumable run remove what a killed earlier run left behind, target by target.
    """
    match = _LEFTOVER.match(name)
    if match:
        return match["stem"] + match["ext"]
    match = _BACKUP.match(name)
    return match["name"] if match else None


def _check_parent(out: Path) -> None:
    if not out.parent.is_dir():
        raise OutputPathError(f"output folder {str(out.parent)!r} does not exist; create it first.")
    try:  # a real probe: os.access says yes to root even on a read-only file system
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise OutputPathError(f"output folder {str(out.parent)!r} is not writable ({exc.strerror}); "
                              "choose another output path.") from None


def check_output_dir(
    output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = (), parents: bool = False
) -> Path:
    """Validate an output FOLDER (a report, a PNG sequence) before any work starts.

    Folder outputs are replaced as a whole once complete (:func:`atomic_output_dir`), so besides
    the checks of :func:`check_output_path` the folder may neither be an input nor hold one
    (``-o`` pointing at a dataset root would otherwise replace the dataset).

    Args:
        output: the folder.
        inputs: input paths it may neither be nor hold.
        parents: the writer creates missing parent folders too; then the nearest existing
            ancestor must be a writable folder.

    Returns:
        The folder as an absolute :class:`Path`.

    Raises:
        OutputPathError: parent missing or not writable, a file is in the way, or it is / holds an input.
    """
    out = Path(output).expanduser().absolute()
    anchor = out
    while parents and not anchor.parent.exists() and anchor.parent != anchor:
        anchor = anchor.parent
    if anchor.parent.exists() and not anchor.parent.is_dir():
        raise OutputPathError(f"{str(anchor.parent)!r} is a file, so output folder {str(out)!r} cannot be created.")
    _check_parent(anchor)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"output folder {str(out)!r} is an existing file; give a folder name.")
    for item in inputs:
        if item is None:
            continue
        src = Path(item).expanduser().absolute()
        if src == out or out in src.parents or (src.exists() and out.exists() and os.path.samefile(src, out)):
            raise OutputPathError(f"output folder {str(out)!r} is or holds the input {str(src)!r}; "
                                  "writing it would replace the input, choose another folder.")
    return out


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path``.

    The temporary name keeps the target's extension (so writers that infer a format from it
    work). On any exception the temporary file is removed and the target is left untouched.
    """
    target = check_output_path(path)
    ext = suffix if suffix is not None else "".join(target.suffixes[-1:])
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{ext}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file 0600; a finished output gets the usual permissions (0666 minus the umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like :func:`atomic_output` for a folder of files (e.g. a PNG sequence).

    An existing target folder is replaced only after the new one is complete.
    """
    target = check_output_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    import shutil

    try:
        yield tmp
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            os.replace(target, backup)
            os.replace(tmp, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
