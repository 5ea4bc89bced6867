#include "crefscale_futex.h"
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int crefscale_futex_wait(uint32_t *word, uint32_t expected) {
    long result = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
    return result == 0 ? 0 : -errno;
}

int crefscale_futex_wake(uint32_t *word, int count) {
    long result = syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
    return result >= 0 ? (int)result : -errno;
}
