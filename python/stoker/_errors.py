"""stoker's exceptions: one stoker.Error base, one subclass per stoker::ErrorCode.

Every error raised by the pipeline carries where it happened:
  code     "DataLoss", "NotFound", ... (stoker::ErrorCode)
  message  what went wrong, without the context
  stage    the pipeline stage ("hdf5", "decode_jpeg", "map", "batch"), or None
  file     the file or source being read, or None
  record   the index of the bad row/element within its source, or None
Subclasses also derive from the matching builtin (ValueError, FileNotFoundError, OSError,
MemoryError) so generic handlers keep working.
"""


class Error(Exception):
    # Set by the raiser (the C++ side sets all five); defaults for errors made in Python.
    code = None
    message = None
    stage = None
    file = None
    record = None


class InvalidArgumentError(Error, ValueError):
    pass


class NotFoundError(Error, FileNotFoundError):
    pass


class IOError(Error, OSError):  # noqa: A001 - stoker.IOError, as the C++ code kIo
    pass


class DataLossError(Error):
    pass


class UnsupportedError(Error):
    pass


class OutOfMemoryError(Error, MemoryError):
    pass


class CudaError(Error):
    pass


class CancelledError(Error):
    pass


class InternalError(Error):
    pass


# Shown as stoker.DataLossError, not stoker._errors.DataLossError.
for _cls in (Error, InvalidArgumentError, NotFoundError, IOError, DataLossError, UnsupportedError, OutOfMemoryError,
             CudaError, CancelledError, InternalError):
    _cls.__module__ = "stoker"
del _cls
