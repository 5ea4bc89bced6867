// CPU placement that Swift cannot reach: sched_getcpu, CPU_SET and pthread_setaffinity_np.
#ifndef CREFSCALE_CPU_H
#define CREFSCALE_CPU_H

/// The CPU the calling thread runs on (sched_getcpu), or -1.
int crefscale_cpu_current(void);

/// Pins the calling thread to one CPU (CPU_ZERO, CPU_SET, pthread_setaffinity_np).
/// Returns pthread_setaffinity_np's result: 0, or an error number.
int crefscale_cpu_pin_current_thread(int cpu);

/// The CPUs the calling process may run on (sched_getaffinity), ascending, into `cpus`.
/// Returns how many there are (at most `capacity` are written), or -errno.
int crefscale_cpu_allowed(int *cpus, int capacity);
#endif
