"""The reconciler (KubeVirt's virt-controller): VirtualMachine → VirtualMachineInstance → launcher Pod."""
