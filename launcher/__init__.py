"""The launcher: one VirtualMachineInstance, one QEMU guest."""
