"""The node agent: the kubelet's part for the embedded cluster, one process per simulated node,
running pods as host processes in their own network and mount namespaces."""
