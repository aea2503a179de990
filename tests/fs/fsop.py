"""fsop.py PATH STEP... — run a sequence of syscalls on one file and print
each step's result, so that a test can tell which call failed and with
which errno (shell tools rarely report an error of close()).

Steps:
  open:FLAGS        r, w or rw, plus a (O_APPEND), t (O_TRUNC), c (O_CREAT),
                    x (O_EXCL): "open:wtc" is what `> file` does
  write:TEXT        write TEXT (\\n is a newline)
  writehex:HEX      write these bytes
  zeros:N           write N zero bytes in one write()
  pwrite:OFF:TEXT   write TEXT at offset OFF
  ftruncate:N       truncate the open file to N bytes
  fsync             fsync()
  read              read everything from offset 0; prints the text
  close             close()
  rename:NEW:NOREPLACE  renameat2(PATH, NEW, RENAME_NOREPLACE)
  signal:FILE       create FILE (tells the test a point was reached)
  wait:FILE         wait until FILE exists (at most 30 s)

Each step prints OK (read prints the text) or the errno name, e.g.
"OK EFBIG EFBIG". A step after a failed open is not run.
"""
import ctypes
import errno
import os
import sys
import time

FLAGS = {"a": os.O_APPEND, "t": os.O_TRUNC, "c": os.O_CREAT, "x": os.O_EXCL}
RENAME_NOREPLACE = 1


def open_flags(spec):
    if spec.startswith("rw"):
        flags, rest = os.O_RDWR, spec[2:]
    elif spec.startswith("r"):
        flags, rest = os.O_RDONLY, spec[1:]
    elif spec.startswith("w"):
        flags, rest = os.O_WRONLY, spec[1:]
    else:
        raise SystemExit("fsop: bad open flags " + spec)
    for c in rest:
        flags |= FLAGS[c]
    return flags


def renameat2(old, new, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    r = libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(),
                       ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def run(path, step, fd):
    """Run one step; return (result text, fd)."""
    op, _, arg = step.partition(":")
    if op == "open":
        return "OK", os.open(path, open_flags(arg), 0o644)
    if op == "write":
        os.write(fd, arg.replace("\\n", "\n").encode())
    elif op == "writehex":
        os.write(fd, bytes.fromhex(arg))
    elif op == "zeros":
        n = int(arg)
        done = os.write(fd, bytes(n))
        if done != n:
            return "SHORT%d" % done, fd
    elif op == "pwrite":
        off, _, text = arg.partition(":")
        os.pwrite(fd, text.encode(), int(off))
    elif op == "ftruncate":
        os.ftruncate(fd, int(arg))
    elif op == "fsync":
        os.fsync(fd)
    elif op == "read":
        data = b""
        while True:
            chunk = os.pread(fd, 65536, len(data))
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").replace("\n", "\\n"), fd
    elif op == "close":
        try:
            os.close(fd)
        finally:
            fd = None
    elif op == "signal":
        open(arg, "w").close()
    elif op == "wait":
        deadline = time.monotonic() + 30
        while not os.path.exists(arg):
            if time.monotonic() > deadline:
                return "TIMEOUT", fd
            time.sleep(0.01)
    elif op == "rename":
        new, _, flag = arg.partition(":")
        renameat2(path, new, RENAME_NOREPLACE if flag == "NOREPLACE" else 0)
    else:
        raise SystemExit("fsop: unknown step " + step)
    return "OK", fd


def main():
    path, steps = sys.argv[1], sys.argv[2:]
    results, fd = [], None
    for step in steps:
        try:
            text, fd = run(path, step, fd)
        except OSError as e:
            text = errno.errorcode.get(e.errno, str(e.errno))
            if step.startswith("open"):
                results.append(text)
                break
        results.append(text)
    print(" ".join(results))


main()
