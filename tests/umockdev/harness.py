#!/usr/bin/python3
"""Fake USB serial boards on the real udev path, for flashline's system tests.

Run the program under test inside a umockdev testbed, plug and unplug fake USB-UART
adapters (real uevents reach its udev monitor), and connect each fake tty to something
that plays the board: a simulator's PTY (espsim's DIR/boardK links) or a Unix socket.

    umockdev-wrapper /usr/bin/python3 tests/umockdev/harness.py [OPTIONS] -- PROGRAM [ARGS...]

Needs Debian's packages umockdev, gir1.2-umockdev-1.0 and python3-gi, and Debian's
/usr/bin/python3 (the one that has `gi`). The program inherits the testbed (UMOCKDEV_DIR
and the LD_PRELOAD set up by umockdev-wrapper): its udev enumerator sees the fake devices,
its udev monitor receives the uevents, and opening /dev/ttyUSBn opens the fake tty.

Boards (--board, repeatable; SPEC is comma-separated key=value or flags):
    kind=K       cp2102 (default), ch340, ch9102, ftdi, esp-usb, pl2303 (see KINDS)
    id=N         number used in commands; default: 0, 1, 2... in order (like espsim's boardK)
    port=P       kernel USB port; default 1-2.(N+1): port N+1 of a hub on root port 2
    serial=S     adapter serial number; 'none' for none (the CH340 and PL2303 default)
    present      plugged in before the program starts (found by its start-up scan)
    bare         the tty has no ID_* udev properties (ID_PATH, ID_VENDOR_ID...), as when
                 udevd did not process it: only the USB parents' sysfs attributes tell
    bridge=PATH  copy bytes both ways between the fake tty and PATH: a PTY (a path or a
                 symlink to /dev/pts/N, opened as the PTY's client, like espsim's
                 DIR/boardK) or a Unix stream socket (connected to). Opened at each plug.
    modem=PATH   append "DTR=d RTS=r" (0/1, 1 = asserted) per modem-line change to PATH
--bridge-dir DIR gives every board without bridge= the bridge DIR/boardN.

Commands (stdin, or --script FILE; one per line, '#' starts a comment):
    add N              plug board N in (sysfs devices appear; udev repeats the add events);
                       a board plugged in again gets the next free ttyUSBn/ttyACMn
    remove N           unplug board N ('remove' uevent, then its sysfs devices go)
    dup N              one more 'add' uevent for board N's tty, as a driver rebind sends
    reenum N [VID:PID] board N re-enumerates, as a chip on its own USB port does when it
                       resets: remove, then add on the same USB path and the next free
                       ttyACMn (umockdev cannot recreate a node); with VID:PID it comes
                       back as that device (a TinyUSB application), without it as itself
    wait TEXT [SECS]   wait until the program prints a line containing TEXT; lines
                       matched by an earlier wait do not count again; default 10 s.
                       TEXT may be in double quotes (to keep spaces at its ends)
    sleep SECS
    send N TEXT        write TEXT (\\n, \\r, \\xHH escapes) to the program through board N's
                       tty (boards without a bridge only)
    expect N TEXT [SECS]  wait until board N's tty received TEXT from the program (boards
                       without a bridge only)
    lines N            print board N's DTR/RTS history
    quit               end (as does end of input)

Output, one line each, on stdout:
    [child] LINE                      what the program printed (stdout and stderr)
    [harness] ok COMMAND [DETAILS]    a command is done
    [harness] error MESSAGE           a command failed (the harness then stops)
    [harness] exit RC                 the program ended with status RC
At the end the program gets SIGTERM (then SIGKILL after 5 s). The harness exits with 0 if
every command succeeded and the program exited 0 or by that SIGTERM, 1 if a command failed,
2 on bad usage, else the program's status.
"""

import argparse
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
import tty

try:
    import gi

    gi.require_version("UMockdev", "1.0")
    from gi.repository import UMockdev
except (ImportError, ValueError) as e:
    sys.exit(
        "harness: umockdev's Python bindings are missing (%s): "
        "apt-get install umockdev gir1.2-umockdev-1.0 python3-gi, and run /usr/bin/python3" % e
    )

# The USB host controller every fake hub hangs off.
CONTROLLER = "/devices/pci0000:00/0000:00:14.0"
PCI_PATH = "pci-0000:00:14.0"

# kind: (vid, pid, driver, tty prefix, default serial or None, manufacturer, product)
KINDS = {
    "cp2102": ("10c4", "ea60", "cp210x", "ttyUSB", "{n:04d}", "Silicon Labs", "CP2102 USB to UART Bridge Controller"),
    "ch340": ("1a86", "7523", "ch341", "ttyUSB", None, "QinHeng Electronics", "USB Serial"),
    "ch9102": ("1a86", "55d4", "cdc_acm", "ttyACM", "5647{n:06d}", "WCH.CN", "USB Single Serial"),
    "ftdi": ("0403", "6001", "ftdi_sio", "ttyUSB", "A5{n:06d}", "FTDI", "FT232R USB UART"),
    "esp-usb": ("303a", "1001", "cdc_acm", "ttyACM", "24:0A:C4:00:00:{n:02X}", "Espressif", "USB JTAG/serial debug unit"),
    "pl2303": ("067b", "2303", "pl2303", "ttyUSB", None, "Prolific Technology Inc.", "USB-Serial Controller"),
}
TTY_MAJOR = {"ttyUSB": 188, "ttyACM": 166}


_output = threading.Lock()


def emit(line):
    """Writes one whole line: the program's output and ours come from different threads,
    and a reader must never see them interleaved within a line."""
    with _output:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def say(*parts):
    emit(" ".join(["[harness]"] + [str(p) for p in parts]))


class CommandError(Exception):
    pass


class ModemLines(UMockdev.IoctlBase):
    """Emulates the modem-control ioctls a pty lacks (TIOCMGET/BIS/BIC/SET) so serial
    libraries can drive DTR/RTS; every other ioctl goes to the real pty behind the tty."""

    def __init__(self, board):
        super().__init__()
        self.board = board
        self.state = 0
        self.history = []

    def do_handle_ioctl(self, client):
        req = client.get_request() & 0xFFFFFFFF
        try:
            if req in (termios.TIOCMGET, termios.TIOCMBIS, termios.TIOCMBIC, termios.TIOCMSET):
                arg = client.get_arg().resolve(0, 4)
                if req == termios.TIOCMGET:
                    # CTS and DSR asserted, as a connected board's adapter reports them.
                    value = self.state | termios.TIOCM_CTS | termios.TIOCM_DSR
                    arg.update(0, list(struct.pack("I", value)))
                else:
                    value = struct.unpack("I", bytes(arg.retrieve()))[0]
                    if req == termios.TIOCMBIS:
                        self.state |= value
                    elif req == termios.TIOCMBIC:
                        self.state &= ~value
                    else:
                        self.state = value
                    self.changed()
                client.complete(0, 0)
            else:
                res, err = client.execute()
                client.complete(res, err)
        except Exception as e:  # an exception here would hang the program's ioctl
            say("ioctl handler failed on request 0x%x: %s" % (req, e))
            client.complete(-1, 5)
        return True

    def changed(self):
        dtr = int(bool(self.state & termios.TIOCM_DTR))
        rts = int(bool(self.state & termios.TIOCM_RTS))
        self.history.append((round(time.monotonic(), 3), dtr, rts))
        if self.board.modem_log:
            with open(self.board.modem_log, "a") as f:
                f.write("DTR=%d RTS=%d\n" % (dtr, rts))


class Bridge:
    """Copies bytes both ways between the fake tty's pty master and the board's side."""

    def __init__(self, board, dev_fd, target):
        self.board, self.dev_fd, self.target = board, dev_fd, target
        self.peer = self.open_peer(target)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="bridge-%d" % board.id, daemon=True)
        self.thread.start()

    @staticmethod
    def open_peer(target):
        if stat.S_ISSOCK(os.stat(target).st_mode):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(target)
            s.setblocking(False)
            return s
        fd = os.open(target, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        if os.isatty(fd):
            tty.setraw(fd)  # bytes, not lines: no echo, no CR/LF translation
        return fd

    def peer_fd(self):
        return self.peer.fileno() if isinstance(self.peer, socket.socket) else self.peer

    def run(self):
        pfd = self.peer_fd()
        while not self.stop.is_set():
            r, _, _ = select.select([self.dev_fd, pfd], [], [], 0.05)
            if self.dev_fd in r and not self.pump(self.dev_fd, pfd):
                time.sleep(0.02)  # EIO: nobody has the tty open yet
            if pfd in r and not self.pump(pfd, self.dev_fd):
                say("bridge %d: %s closed" % (self.board.id, self.target))
                return

    def pump(self, src, dst):
        try:
            data = os.read(src, 4096)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        view = memoryview(data)
        while view and not self.stop.is_set():
            try:
                view = view[os.write(dst, view):]
            except BlockingIOError:
                select.select([], [dst], [], 0.05)
        return True

    def close(self):
        self.stop.set()
        self.thread.join(2)
        if isinstance(self.peer, socket.socket):
            self.peer.close()
        else:
            os.close(self.peer)


class Board:
    def __init__(self, spec, index, counters, bridge_dir):
        fields = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in spec.split(",") if kv)
        unknown = set(fields) - {"kind", "id", "port", "serial", "present", "bare", "bridge", "modem"}
        if unknown:
            raise ValueError("unknown board key(s) %s in %r" % (", ".join(sorted(unknown)), spec))
        self.kind = fields.get("kind", "cp2102")
        if self.kind not in KINDS:
            raise ValueError("unknown board kind %r (one of %s)" % (self.kind, ", ".join(KINDS)))
        self.id = int(fields.get("id", index))
        vid, pid, driver, prefix, serial_fmt, vendor, product = KINDS[self.kind]
        self.vid, self.pid, self.driver, self.vendor, self.product = vid, pid, driver, vendor, product
        self.port = fields.get("port", "1-2.%d" % (self.id + 1))
        bus, _, ports = self.port.partition("-")
        if not bus.isdigit() or not ports or not all(p.isdigit() for p in ports.split(".")):
            raise ValueError("port %r is not a USB port like 1-2.3" % self.port)
        serial = fields.get("serial", serial_fmt.format(n=self.id + 1) if serial_fmt else "none")
        self.serial = None if serial == "none" else serial
        self.present = "present" in fields
        self.bare = "bare" in fields
        bridge = fields.get("bridge")
        if bridge is None and bridge_dir:
            bridge = os.path.join(bridge_dir, "board%d" % self.id)
        self.bridge_target = bridge
        self.modem_log = fields.get("modem")
        self.prefix = prefix
        self.bus = int(bus)
        self.hub = ports.rsplit(".", 1)[0] if "." in ports else None
        self.interface = self.port + ":1.0"
        self.id_path = "%s-usb-0:%s:1.0" % (PCI_PATH, ports)
        usb = CONTROLLER + "/usb%d" % self.bus
        if self.hub:
            usb += "/%d-%s" % (self.bus, self.hub)
        self.usb_device = "%s/%s" % (usb, self.port)
        self.assign_tty(counters)
        self.plugged_before = False
        self.plugged = False
        self.handler = ModemLines(self)
        self.dev_fd = None
        self.bridge = None
        self.received = b""

    def assign_tty(self, counters):
        """Takes the next free ttyUSBn/ttyACMn. A re-plugged board gets a new one: umockdev
        cannot recreate a node it once created (the kernel, too, moves on to the next
        number while the old node is still held open)."""
        minor = counters.get(self.prefix, 0)
        counters[self.prefix] = minor + 1
        self.tty_name, self.major, self.minor = "%s%d" % (self.prefix, minor), TTY_MAJOR[self.prefix], minor
        self.devnode = "/dev/" + self.tty_name
        iface = "%s/%s" % (self.usb_device, self.interface)
        if self.prefix == "ttyUSB":
            self.tty_syspath = "%s/%s/tty/%s" % (iface, self.tty_name, self.tty_name)
        else:
            self.tty_syspath = "%s/tty/%s" % (iface, self.tty_name)

    def syspaths(self):
        """The board's sysfs devices, parents first."""
        iface = "%s/%s" % (self.usb_device, self.interface)
        paths = [self.usb_device, iface]
        if self.tty_name.startswith("ttyUSB"):
            paths.append("%s/%s" % (iface, self.tty_name))
        return paths + [self.tty_syspath]

    def hub_description(self):
        """The hub the board hangs off, shared by boards on the same root port."""
        return (
            "P: %s/usb%d/%d-%s\nE: DEVTYPE=usb_device\nE: DRIVER=usb\nE: SUBSYSTEM=usb\n"
            "E: ID_VENDOR_ID=05e3\nE: ID_MODEL_ID=0610\nA: idVendor=05e3\nA: idProduct=0610\n"
            "A: bDeviceClass=09\nA: product=USB2.0 Hub\n\n" % (CONTROLLER, self.bus, self.bus, self.hub)
        )

    def description(self):
        """umockdev's record format, parents first (else the first uevent lacks their attributes)."""
        serial_attr = "A: serial=%s\n" % self.serial if self.serial else ""
        serial_prop = "E: ID_SERIAL_SHORT=%s\n" % self.serial if self.serial else ""
        ident = "%s_%s" % (self.vendor.replace(" ", "_"), self.product.replace(" ", "_"))
        id_serial = ident + ("_" + self.serial if self.serial else "")
        links = "/dev/serial/by-path/%s-port0" % self.id_path
        if self.serial:
            links += " /dev/serial/by-id/usb-%s-if00-port0" % id_serial
        out = (
            "P: %s\nE: DEVTYPE=usb_device\nE: DRIVER=usb\nE: SUBSYSTEM=usb\n"
            "E: ID_VENDOR_ID=%s\nE: ID_MODEL_ID=%s\n%s"
            "A: idVendor=%s\nA: idProduct=%s\n%sA: manufacturer=%s\nA: product=%s\n"
            "A: busnum=%d\nA: devnum=%d\n\n"
            % (self.usb_device, self.vid, self.pid, serial_prop, self.vid, self.pid, serial_attr,
               self.vendor, self.product, self.bus, 10 + self.id)
        )
        iface = "%s/%s" % (self.usb_device, self.interface)
        out += (
            "P: %s\nE: DEVTYPE=usb_interface\nE: DRIVER=%s\nE: SUBSYSTEM=usb\n"
            "A: bInterfaceNumber=00\nA: bInterfaceClass=ff\n\n" % (iface, self.driver)
        )
        if self.tty_name.startswith("ttyUSB"):
            out += "P: %s/%s\nE: DRIVER=%s\nE: SUBSYSTEM=usb-serial\nA: port_number=0\n\n" % (
                iface, self.tty_name, self.driver)
        if self.bare:
            return out + "P: %s\nN: %s\nE: DEVNAME=%s\nE: MAJOR=%d\nE: MINOR=%d\nE: SUBSYSTEM=tty\nA: dev=%d:%d\n" % (
                self.tty_syspath, self.tty_name, self.devnode, self.major, self.minor, self.major, self.minor)
        out += (
            "P: %s\nN: %s\nE: DEVNAME=%s\nE: MAJOR=%d\nE: MINOR=%d\nE: SUBSYSTEM=tty\n"
            "E: ID_BUS=usb\nE: ID_VENDOR_ID=%s\nE: ID_MODEL_ID=%s\n%s"
            "E: ID_VENDOR=%s\nE: ID_MODEL=%s\nE: ID_SERIAL=%s\n"
            "E: ID_USB_DRIVER=%s\nE: ID_USB_INTERFACE_NUM=00\nE: ID_PATH=%s\nE: ID_PATH_TAG=%s\n"
            "E: DEVLINKS=%s\nA: dev=%d:%d\n"
            % (self.tty_syspath, self.tty_name, self.devnode, self.major, self.minor, self.vid, self.pid,
               serial_prop, self.vendor.replace(" ", "_"), self.product.replace(" ", "_"), id_serial,
               self.driver, self.id_path, self.id_path.replace(":", "_").replace(".", "_"), links,
               self.major, self.minor)
        )
        return out


class Harness:
    def __init__(self, args):
        self.boards = {}
        counters = {}
        self.counters = counters
        for i, spec in enumerate(args.board):
            b = Board(spec, i, counters, args.bridge_dir)
            if b.id in self.boards:
                raise ValueError("two boards have id %d" % b.id)
            self.boards[b.id] = b
        self.hubs = set()
        self.lines = []
        self.cursor = 0
        self.lines_changed = threading.Condition()
        self.child = None
        self.child_done = threading.Event()
        self.program = args.program
        self.ready = args.ready
        # Last, so that a bad --board leaves no testbed directory behind.
        self.testbed = UMockdev.Testbed.new()

    # The program -----------------------------------------------------------------------
    def start_child(self, timeout):
        self.child = subprocess.Popen(
            self.program, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, errors="replace",
        )
        threading.Thread(target=self.pump_child, daemon=True).start()
        if self.ready:
            self.wait_line(self.ready, timeout)

    def pump_child(self):
        for line in self.child.stdout:
            line = line.rstrip("\n")
            emit("[child] " + line)
            with self.lines_changed:
                self.lines.append(line)
                self.lines_changed.notify_all()
        self.child.wait()
        self.child_done.set()
        with self.lines_changed:
            self.lines_changed.notify_all()

    def wait_line(self, text, timeout):
        deadline = time.monotonic() + timeout
        with self.lines_changed:
            while True:
                for i in range(self.cursor, len(self.lines)):
                    if text in self.lines[i]:
                        self.cursor = i + 1
                        return self.lines[i]
                if self.child_done.is_set():
                    raise CommandError("the program exited (status %s) before printing %r" % (self.child.returncode, text))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandError("timed out after %gs waiting for the program to print %r" % (timeout, text))
                self.lines_changed.wait(left)

    def stop_child(self):
        if self.child is None:
            return None
        terminated = False
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)
            terminated = True
            try:
                self.child.wait(5)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self.child_done.wait(2)
        rc = self.child.returncode
        say("exit", rc)
        return 0 if terminated and rc == -signal.SIGTERM else rc

    # Boards ------------------------------------------------------------------------------
    def board(self, n):
        try:
            return self.boards[int(n)]
        except (KeyError, ValueError):
            raise CommandError("no board %s (boards: %s)" % (n, ", ".join(map(str, sorted(self.boards)))))

    def plug(self, b):
        if b.plugged:
            raise CommandError("board %d is already plugged in" % b.id)
        if b.plugged_before:
            b.assign_tty(self.counters)
        b.plugged_before = True
        if b.hub and (b.bus, b.hub) not in self.hubs:
            self.testbed.add_from_string(b.hub_description())
            self.hubs.add((b.bus, b.hub))
        # The handler must be in place before the tty exists: the program may open it as
        # soon as the add event arrives, and without the handler DTR/RTS fail with ENOTTY.
        if not self.testbed.attach_ioctl(b.devnode, b.handler):
            raise CommandError("cannot attach the ioctl handler to %s" % b.devnode)
        if not self.testbed.add_from_string(b.description()):
            raise CommandError("umockdev refused board %d's description" % b.id)
        b.plugged = True
        b.received = b""
        b.dev_fd = self.testbed.get_dev_fd(b.devnode)
        if b.bridge_target:
            try:
                b.bridge = Bridge(b, b.dev_fd, b.bridge_target)
            except OSError as e:
                raise CommandError("board %d: cannot open bridge %s: %s" % (b.id, b.bridge_target, e))
        else:
            os.set_blocking(b.dev_fd, False)
        return "devnode=%s syspath=/sys%s id_path=%s" % (b.devnode, b.tty_syspath, b.id_path)

    def unplug(self, b):
        if not b.plugged:
            raise CommandError("board %d is not plugged in" % b.id)
        if b.bridge:
            b.bridge.close()
            b.bridge = None
        self.testbed.uevent("/sys" + b.tty_syspath, "remove")
        # Children first: removing a parent leaves its children's /sys/bus links behind,
        # and a later plug of the same board would then fail.
        for syspath in reversed(b.syspaths()):
            self.testbed.remove_device("/sys" + syspath)
        self.testbed.detach_ioctl(b.devnode)
        b.plugged = False
        b.dev_fd = None
        return ""

    def board_fd(self, b):
        if not b.plugged:
            raise CommandError("board %d is not plugged in" % b.id)
        if b.bridge:
            raise CommandError("board %d is bridged to %s; talk to it there" % (b.id, b.bridge_target))
        return b.dev_fd

    def expect(self, b, text, timeout):
        fd = self.board_fd(b)
        deadline = time.monotonic() + timeout
        while text not in b.received:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandError("timed out after %gs: board %d received %r, not %r" % (timeout, b.id, b.received, text))
            r, _, _ = select.select([fd], [], [], min(left, 0.05))
            if r:
                try:
                    b.received += os.read(fd, 4096)
                except (BlockingIOError, OSError):
                    time.sleep(0.02)  # EIO until the program opens the tty
        b.received = b.received.split(text, 1)[1]

    # Commands ----------------------------------------------------------------------------
    def run(self, line):
        words = line.split(None, 1)
        cmd, rest = words[0], (words[1] if len(words) > 1 else "")
        if cmd == "add":
            return self.plug(self.board(rest.strip()))
        if cmd == "remove":
            return self.unplug(self.board(rest.strip()))
        if cmd == "reenum":
            words = rest.split()
            if not words:
                raise CommandError("reenum needs a board number")
            b = self.board(words[0])
            self.unplug(b)
            b.vid, b.pid = KINDS[b.kind][0], KINDS[b.kind][1]
            if len(words) > 1:
                vid, sep, pid = words[1].partition(":")
                if not sep or len(vid) != 4 or len(pid) != 4:
                    raise CommandError("%r is not a USB id like 303a:4001" % words[1])
                b.vid, b.pid = vid.lower(), pid.lower()
            return self.plug(b)
        if cmd == "dup":
            b = self.board(rest.strip())
            if not b.plugged:
                raise CommandError("board %d is not plugged in" % b.id)
            self.testbed.uevent("/sys" + b.tty_syspath, "add")
            return ""
        if cmd == "wait":
            text, timeout = split_timeout(rest, 10.0)
            return self.wait_line(text, timeout)
        if cmd == "sleep":
            time.sleep(float(rest))
            return ""
        if cmd == "send":
            n, _, text = rest.partition(" ")
            os.write(self.board_fd(self.board(n)), unescape(unquote(text)))
            return ""
        if cmd == "expect":
            n, _, text = rest.partition(" ")
            text, timeout = split_timeout(text, 10.0)
            self.expect(self.board(n), unescape(text), timeout)
            return ""
        if cmd == "lines":
            return " ".join("%.3f:DTR=%d,RTS=%d" % h for h in self.board(rest.strip()).handler.history)
        raise CommandError("unknown command %r" % cmd)

    def close(self):
        for b in self.boards.values():
            if b.bridge:
                b.bridge.close()


def split_timeout(text, default):
    """'TEXT 5' -> ('TEXT', 5.0); a last word that is not a number is part of TEXT."""
    head, _, last = text.rstrip().rpartition(" ")
    try:
        return (unquote(head), float(last)) if head else (unquote(text), default)
    except ValueError:
        return unquote(text), default


def unquote(text):
    """TEXT may be written in double quotes, to keep spaces at its ends."""
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def unescape(text):
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", action="append", default=[], metavar="SPEC")
    p.add_argument("--bridge-dir", metavar="DIR")
    p.add_argument("--script", metavar="FILE", help="read commands from FILE instead of stdin")
    p.add_argument("--ready", default="READY", help="line the program prints when ready ('' to not wait)")
    p.add_argument("--ready-timeout", type=float, default=30.0)
    p.add_argument("program", nargs="+")
    args = p.parse_args()
    if "UMOCKDEV_DIR" not in os.environ and "LD_PRELOAD" not in os.environ:
        sys.exit("harness: run me under umockdev-wrapper (the program must inherit the testbed's preload)")
    try:
        h = Harness(args)
    except ValueError as e:
        print("harness:", e, file=sys.stderr)
        return 2
    failed = False
    try:
        for b in sorted(h.boards.values(), key=lambda b: b.id):
            if b.present:
                say("ok present", b.id, h.plug(b))
        h.start_child(args.ready_timeout)
        say("ok ready")
        source = open(args.script) if args.script else sys.stdin
        for raw in source:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line == "quit":
                break
            say("ok", line, h.run(line))
    except CommandError as e:
        say("error", e)
        failed = True
    except KeyboardInterrupt:
        failed = True
    finally:
        rc = h.stop_child()
        h.close()
        # Testbeds are directories in the temp folder; do not leave them behind.
        root = h.testbed.get_root_dir()
        del h
        shutil.rmtree(root, ignore_errors=True)
    if failed:
        return 1
    return rc if rc is not None else 0


if __name__ == "__main__":
    sys.exit(main())
