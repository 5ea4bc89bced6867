import CRefScale
import Glibc

/// A POSIX thread running one closure, joined explicitly. Workers are real threads, created once
/// per run, so nothing of a thread pool or a task scheduler sits between them and the measurement.
final class WorkerThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private var thread = pthread_t()

    /// Starts a thread running `body`; with a CPU, the thread first pins itself to it.
    init(pinnedTo cpu: Int? = nil, _ body: @escaping () -> Void) {
        let run: () -> Void = cpu.map { cpu in
            {
                let result = crefscale_cpu_pin_current_thread(Int32(cpu))
                precondition(result == 0, "pthread_setaffinity_np failed: \(result)")
                body()
            }
        } ?? body
        let context = Unmanaged.passRetained(Body(run)).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    func join() {
        let result = pthread_join(thread, nil)
        precondition(result == 0, "pthread_join failed: \(result)")
    }
}
