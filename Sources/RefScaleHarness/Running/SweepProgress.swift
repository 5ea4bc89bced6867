import Glibc

/// A sweep's progress and an estimate of the time left, on stderr: one line kept up to date on
/// a terminal, a plain line per run otherwise.
public final class SweepProgress {
    let total: Int
    let started = MachineInfo.monotonicSeconds()
    let live = isatty(STDERR_FILENO) != 0
    var showing = false

    public init(total: Int) { self.total = total }

    /// Run `done + 1` of `total` is about to start.
    public func update(done: Int) {
        var text = "run \(done + 1)/\(total)"
        if done > 0 {
            let elapsed = MachineInfo.monotonicSeconds() - started
            text += ", about \(Int((elapsed / Double(done) * Double(total - done)).rounded())) s left"
        }
        if live {
            fputs("\r\u{1B}[K" + text, stderr)
            showing = true
        } else {
            fputs(text + "\n", stderr)
        }
    }

    /// Takes the live line away before other output.
    public func clear() {
        guard showing else { return }
        fputs("\r\u{1B}[K", stderr)
        showing = false
    }
}
