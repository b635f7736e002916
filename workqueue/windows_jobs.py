"""Windows: a job object, so that a command of --run ends with every process
it started (Windows has no process groups to signal). The job ends its
processes when terminated, and when closed: also when the worker dies, since
the system then closes the worker's handles. ctypes, kernel32 and ntdll;
imported on Windows only (workqueue/commands.py)."""

import ctypes
import subprocess
from ctypes import wintypes

_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
_ntdll = ctypes.WinDLL("ntdll")
CREATE_SUSPENDED = 0x00000004
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000


class _BasicLimits(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", wintypes.DWORD),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", wintypes.DWORD),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", wintypes.DWORD),
        ("SchedulingClass", wintypes.DWORD),
    ]


class _ExtendedLimits(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", _BasicLimits),
        ("IoInfo", ctypes.c_uint64 * 6),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


_kernel32.CreateJobObjectW.restype = wintypes.HANDLE
_kernel32.CreateJobObjectW.argtypes = (wintypes.LPVOID, wintypes.LPCWSTR)
_kernel32.SetInformationJobObject.argtypes = (wintypes.HANDLE, ctypes.c_int, wintypes.LPVOID, wintypes.DWORD)
_kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
_kernel32.TerminateJobObject.argtypes = (wintypes.HANDLE, wintypes.UINT)
_kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
_ntdll.NtResumeProcess.argtypes = (wintypes.HANDLE,)


class Job:
    """A job object that kills its processes when closed."""

    def __init__(self):
        self._handle = _kernel32.CreateJobObjectW(None, None)
        if not self._handle:
            raise ctypes.WinError(ctypes.get_last_error())
        limits = _ExtendedLimits()
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        if not _kernel32.SetInformationJobObject(
            self._handle, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(limits), ctypes.sizeof(limits)
        ):
            error = ctypes.get_last_error()
            self.close()
            raise ctypes.WinError(error)

    def start(self, argv, **popen_options):
        """subprocess.Popen(argv), in the job: started suspended and resumed
        once in it, so that nothing it starts escapes it."""
        try:
            popen = subprocess.Popen(argv, creationflags=CREATE_SUSPENDED, **popen_options)
        except BaseException:
            self.close()
            raise
        handle = int(popen._handle)  # Popen keeps the process handle; it has no public name
        if not _kernel32.AssignProcessToJobObject(self._handle, handle):
            error = ctypes.get_last_error()
            popen.kill()
            popen.wait()
            self.close()
            raise ctypes.WinError(error)
        _ntdll.NtResumeProcess(handle)  # Popen has closed the thread's handle: the process is resumed whole
        return popen

    def terminate(self):
        """End every process in the job, now."""
        if self._handle is not None:
            _kernel32.TerminateJobObject(self._handle, 1)

    def close(self):
        """Close the job, ending what is left of it."""
        if self._handle is not None:
            _kernel32.TerminateJobObject(self._handle, 1)
            _kernel32.CloseHandle(self._handle)
            self._handle = None
