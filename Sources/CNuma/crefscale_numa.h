// libnuma (libnuma-dev): NUMA nodes, their CPUs and memory, and memory placed on a node or
// interleaved over all nodes. Swift calls the library directly; nothing here needs a shim.
#ifndef CREFSCALE_NUMA_H
#define CREFSCALE_NUMA_H

#include <numa.h>

#endif
