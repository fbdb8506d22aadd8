"""ESPTOOL_PY for esptool's test suite: esptool with its resets sent to espsim."""

import espsim_reset

import esptool

espsim_reset.install()
esptool._main()
