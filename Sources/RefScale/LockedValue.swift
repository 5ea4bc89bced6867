import Glibc

/// A value behind a POSIX mutex, for state that threads share outside the hot loop (totals added
/// at thread exit, caches, recordings). Not `Synchronization.Mutex`: its contended path (a
/// futex wait in the standard library, which is built without ThreadSanitizer's
/// instrumentation) hands the lock over without an edge the sanitizer can see, so a correct
/// program is reported as racing whenever two threads meet at the lock. ThreadSanitizer
/// intercepts `pthread_mutex_lock` and `pthread_mutex_unlock`, so every handover here is seen.
public final class LockedValue<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
