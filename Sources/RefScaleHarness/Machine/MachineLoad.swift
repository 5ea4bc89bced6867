import Glibc

/// What else the machine did while a run was measured: the CPU time every process spent (the
/// non-idle fields of `/proc/stat`'s `cpu` line, steal included: time the hypervisor gave this
/// machine's CPUs to others) less this process's own (`CLOCK_PROCESS_CPUTIME_ID`), over the
/// measured interval. A tight loop's ns/op doubles when another process shares its CPU, so a
/// figure taken beside other work is marked (`other_load`), not hidden.
///
/// `/proc/stat` counts in ticks of 1/100 s, so over a 0.5 s interval the load is known to about
/// ±0.04 CPUs. Where `/proc/stat` cannot be read the load is unknown (nil).
public struct MachineLoad: Sendable {
    let busyTicks: Int?
    let processNanoseconds: UInt64
    let stealTicks: Int?

    /// Above this many CPUs of other work a run is reported as taken on a busy machine.
    public static let busyThreshold = 0.25

    public static func now() -> MachineLoad {
        var spec = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
        let process = UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
        let fields = cpuLine()
        // user nice system idle iowait irq softirq steal: every field but idle and iowait.
        let busy = fields.map { $0.enumerated().filter { $0.offset < 8 && $0.offset != 3 && $0.offset != 4 }.map(\.element).reduce(0, +) }
        return MachineLoad(busyTicks: busy, processNanoseconds: process, stealTicks: fields.flatMap { $0.count > 7 ? $0[7] : nil })
    }

    static func cpuLine() -> [Int]? {
        guard let file = fopen("/proc/stat", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let line = String(cString: buffer)
        guard line.hasPrefix("cpu ") else { return nil }
        return line.split(separator: " ").dropFirst().compactMap { Int($0.filter(\.isNumber)) }
    }

    /// CPUs of work other than this process's, on average from `start` to `end` (`seconds` apart).
    public static func otherCPUs(from start: MachineLoad, to end: MachineLoad, seconds: Double) -> Double? {
        guard let before = start.busyTicks, let after = end.busyTicks, seconds > 0 else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let busy = Double(after - before) / ticksPerSecond
        let own = Double(end.processNanoseconds - start.processNanoseconds) / 1e9
        return max(0, busy - own) / seconds
    }
}
