// How many CPUs this process may run on.
#pragma once

#include <cstddef>

namespace rwgate {

// The CPUs in this thread's affinity mask (taskset, cgroup cpusets, a container's
// --cpuset-cpus), at least 1. std::thread::hardware_concurrency counts the machine's CPUs:
// a process pinned to one core would start a worker per core it cannot use, and pay for
// their hand-offs and cache traffic with nothing gained.
size_t usable_cpus();

}  // namespace rwgate
