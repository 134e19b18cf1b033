/* Wine 8.0 lacks bcryptprimitives.dll, whose ProcessPrng Rust's standard
 * library (1.78 and later) calls for random numbers on Windows. This stand-in,
 * for the Wine test suite only, forwards to RtlGenRandom (SystemFunction036
 * in advapi32), which Wine has. Windows itself ships the real DLL. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
