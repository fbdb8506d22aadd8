"""pytest plugin for running esptool's own test_esptool.py against espsim boards.

Loaded with `-p espsim_plugin` by scripts/esptool-suite.sh. It does two things:
- esptool's download-mode resets in this process reach espsim (see espsim_reset);
- it deselects the tests that a PTY-attached simulator cannot take part in, each with
  its reason (printed in the summary), and nothing else.
"""

import os

import espsim_reset

espsim_reset.install()

RESET_LINE = "needs the physical reset line (a custom DTR/RTS sequence must fail to enter the bootloader)"
RFC2217 = "needs RFC2217 (esp_rfc2217_server)"
FLASH_ENCRYPTION = "needs flash-encryption eFuses burnt"
RAM_CODE = "runs code loaded into RAM (the simulator recognises the flasher stubs only)"
VERSION_SKEW = (
    "the test source is not esptool {installed}'s ({source}): it expects an image check to fail"
    " the write at a non-bootloader offset, where {installed} only prints a note (host-side)"
)

# (test id substring, chips it applies to or None for all, reason)
# Only on the chips the suite runs them on (it skips TestFlashEncryption and TestConfigFile
# on every chip but ESP32, TestLoadRAM on the chips with USB-OTG).
DESELECT = [
    ("TestFlashEncryption::", ["esp32"], FLASH_ENCRYPTION),
    ("TestVirtualPort::test_auto_detect_virtual_port", None, RFC2217),
    ("TestVirtualPort::test_highspeed_flash_virtual_port", None, RFC2217),
    ("TestConfigFile::test_custom_reset_sequence", ["esp32"], RESET_LINE),
    ("TestConfigFile::test_open_port_attempts", ["esp32"], RESET_LINE),
    ("TestLoadRAM::", ["esp32", "esp8266", "esp32c2", "esp32c3", "esp32c5", "esp32c6", "esp32h2"], RAM_CODE),
]


# Only when the test source's esptool version differs from the installed one.
DESELECT_ON_SKEW = [
    # (the suite skips it on ESP8266 and ESP32-S3)
    (
        "TestFlashing::test_write_image_for_another_target",
        ["esp32", "esp32s2", "esp32c2", "esp32c3", "esp32c5", "esp32c6", "esp32h2", "esp32p4"],
        VERSION_SKEW,
    ),
    ("TestFlashing::test_write_image_for_another_revision", ["esp32s3"], VERSION_SKEW),
    ("TestFlashing::test_flash_with_min_max_rev", ["esp32c3"], VERSION_SKEW),
]


def _rules():
    import esptool

    source = os.environ.get("ESPTOOL_SOURCE_VERSION", esptool.__version__)
    if source == esptool.__version__:
        return DESELECT
    skew = [(t, c, r.format(installed=esptool.__version__, source=source)) for (t, c, r) in DESELECT_ON_SKEW]
    return DESELECT + skew


def pytest_addoption(parser):
    parser.addoption("--espsim-deselected", action="store", default=None, help="write deselected ids here")


def pytest_collection_modifyitems(config, items):
    chip = config.getoption("--chip")
    rules = _rules()
    keep, dropped = [], []
    for item in items:
        reason = next(
            (r for (sub, chips, r) in rules if sub in item.nodeid and (chips is None or chip in chips)),
            None,
        )
        (dropped if reason else keep).append((item, reason))
    if dropped:
        config.hook.pytest_deselected(items=[i for i, _ in dropped])
        items[:] = [i for i, _ in keep]
    out = config.getoption("--espsim-deselected")
    if out:
        with open(out, "w") as f:
            for item, reason in dropped:
                f.write(f"{item.nodeid}\t{reason}\n")
