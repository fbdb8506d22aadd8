"""esptool's resets into download mode, carried to espsim by a signal.

A PTY has no DTR/RTS lines, so esptool's reset strategies only print "Chip was NOT
reset". Here the strategies that put the chip into download mode send SIGUSR1 to the
espsim process named by $ESPSIM_PID instead (espsim then resets every board with IO0
held low and the ROM prints its boot log), and wait until that boot log arrives, so the
next SYNC reaches the freshly booted ROM. Used by the pytest plugin (in-process esptool
calls) and by the ESPTOOL_PY wrapper (esptool run as a subprocess by the suite).
"""

import os
import signal
import time

from esptool import reset

BOOT_LOG_WAIT_S = 2.0


def _download_reset(strategy):
    port = strategy.port
    os.kill(int(os.environ["ESPSIM_PID"]), signal.SIGUSR1)
    deadline = time.monotonic() + BOOT_LOG_WAIT_S
    while port.in_waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.005)


def install():
    """Replaces the DTR/RTS toggling of the download-mode reset strategies."""
    for cls in (reset.ClassicReset, reset.UnixTightReset, reset.USBJTAGSerialReset):
        cls.reset = _download_reset
