#include "base/cpus.h"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace rwgate {

size_t usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
  // No mask to read (or a machine with more CPUs than cpu_set_t holds): every CPU.
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace rwgate
