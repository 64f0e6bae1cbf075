"""Host side of the sparsemcu serial protocol: transports (pipe, QEMU pty, serial port),
client, flashing, deploy, and the hardware-in-the-loop pytest suite."""
