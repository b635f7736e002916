"""Ctrl+Break for one program, as a Windows console delivers it; run with the
Windows python (TEST_SCRIPT_PYTHON, Worker.terminate() in scripts.py):

    python.exe ctrl_break.py TOKEN

The program is the one whose environment has TEST_PROCESS_TOKEN=TOKEN: wine
starts it from Linux, so Linux knows its Linux process id, not its Windows one.
A console delivers a control event by starting a thread in the program at
kernelbase's CtrlRoutine, and so does this. GenerateConsoleCtrlEvent would
not do: a program that wine starts with pipes as standard streams has no
console to send it through.
"""

import ctypes
import signal
import sys
from ctypes import wintypes

kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
ntdll = ctypes.WinDLL("ntdll")
kernel32.OpenProcess.restype = wintypes.HANDLE
kernel32.CreateToolhelp32Snapshot.restype = wintypes.HANDLE
kernel32.GetModuleHandleW.restype = wintypes.HMODULE
kernel32.GetProcAddress.argtypes = [wintypes.HMODULE, ctypes.c_char_p]
kernel32.GetProcAddress.restype = ctypes.c_void_p
kernel32.ReadProcessMemory.argtypes = [
    wintypes.HANDLE, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
kernel32.CreateRemoteThread.argtypes = [
    wintypes.HANDLE, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p,
    wintypes.DWORD, ctypes.c_void_p]
kernel32.CreateRemoteThread.restype = wintypes.HANDLE
PROCESS_ALL_ACCESS = 0x1F0FFF
TH32CS_SNAPPROCESS = 2


class PROCESSENTRY32W(ctypes.Structure):
    _fields_ = [
        ("dwSize", wintypes.DWORD), ("cntUsage", wintypes.DWORD), ("th32ProcessID", wintypes.DWORD),
        ("th32DefaultHeapID", ctypes.c_void_p), ("th32ModuleID", wintypes.DWORD),
        ("cntThreads", wintypes.DWORD), ("th32ParentProcessID", wintypes.DWORD),
        ("pcPriClassBase", ctypes.c_long), ("dwFlags", wintypes.DWORD),
        ("szExeFile", ctypes.c_wchar * 260),
    ]


def process_ids():
    snapshot = kernel32.CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0)
    entry = PROCESSENTRY32W(dwSize=ctypes.sizeof(PROCESSENTRY32W))
    more = kernel32.Process32FirstW(snapshot, ctypes.byref(entry))
    while more:
        yield entry.th32ProcessID
        more = kernel32.Process32NextW(snapshot, ctypes.byref(entry))
    kernel32.CloseHandle(snapshot)


def read(process, address, size):
    buffer = ctypes.create_string_buffer(size)
    done = ctypes.c_size_t()
    if not kernel32.ReadProcessMemory(process, address, buffer, size, ctypes.byref(done)):
        raise ctypes.WinError(ctypes.get_last_error())
    return buffer.raw[:done.value]


def environment(process):
    """The environment block of another process, from its PEB (64-bit layout)."""
    basic = (ctypes.c_void_p * 6)()  # PROCESS_BASIC_INFORMATION; [1] is the PEB
    if ntdll.NtQueryInformationProcess(process, 0, basic, ctypes.sizeof(basic), None):
        return ""
    parameters = int.from_bytes(read(process, basic[1] + 0x20, 8), "little")
    block = int.from_bytes(read(process, parameters + 0x80, 8), "little")
    size = int.from_bytes(read(process, parameters + 0x3F0, 8), "little")
    return read(process, block, size).decode("utf-16-le", "replace")


def main():
    wanted = f"\0TEST_PROCESS_TOKEN={sys.argv[1]}\0"
    routine = kernel32.GetProcAddress(kernel32.GetModuleHandleW("kernelbase"), b"CtrlRoutine")
    for pid in process_ids():
        process = kernel32.OpenProcess(PROCESS_ALL_ACCESS, False, pid)
        if not process:
            continue
        try:
            if wanted in "\0" + environment(wintypes.HANDLE(process)):
                thread = kernel32.CreateRemoteThread(
                    process, None, 0, routine, signal.CTRL_BREAK_EVENT, 0, None)
                if not thread:
                    sys.exit(f"ctrl_break.py: no thread in process {pid}: {ctypes.WinError(ctypes.get_last_error())}")
                kernel32.CloseHandle(thread)
                print(pid)
                return
        except OSError:
            pass  # gone meanwhile, or not ours to read
        finally:
            kernel32.CloseHandle(process)
    sys.exit(f"ctrl_break.py: no process has TEST_PROCESS_TOKEN={sys.argv[1]}")


if __name__ == "__main__":
    main()
