import Glibc
import Testing
import RefScale
@testable import RefScaleHarness

/// `other_load`: the machine's busy CPU time less refscale's own, per second of the interval.
@Suite(.tags(.threaded)) struct MachineLoadTests {
    @Test func otherLoadIsTheMachinesBusyTimeLessTheProcesssOwn() {
        let ticks = Int(sysconf(Int32(_SC_CLK_TCK)))
        let start = MachineLoad(busyTicks: 1000, processNanoseconds: 0, stealTicks: 0)
        // 1.5 s of busy CPU time over a 1 s interval, of which refscale used 0.5 s: 1 other CPU.
        let end = MachineLoad(busyTicks: 1000 + 3 * ticks / 2, processNanoseconds: 500_000_000, stealTicks: 0)
        let other = MachineLoad.otherCPUs(from: start, to: end, seconds: 1)!
        #expect(abs(other - 1) < 1e-9)
        #expect(MachineLoad.otherCPUs(from: MachineLoad(busyTicks: nil, processNanoseconds: 0, stealTicks: nil), to: end, seconds: 1) == nil)
    }

    @Test func theProcStatLineIsReadHere() {
        // Every Linux machine refscale runs on has /proc/stat; its cpu line has at least 8 fields.
        #expect((MachineLoad.cpuLine()?.count ?? 0) >= 8)
    }

    @Test func aRowOfARunCarriesItsOtherLoad() throws {
        let request = RunRequest(
            scheme: try Registry.scheme(named: "noop"), workload: try Registry.workload(named: "private"),
            threads: 1, duration: 0.5, warmup: 0.01)
        let row = try Runner.run(request)
        let other = try #require(Double(row["other_load"].text))
        let seconds = try #require(Double(row["elapsed_s"].text))
        // Other work occupies no fewer than no CPU and no more than all of them. /proc/stat's cpu
        // line rounds each of its fields down to a tick at both ends of the interval: up to
        // 8 fields × 2 ends ticks either side.
        let slack = 16 / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds
        #expect(other > -slack && other < Double(MachineInfo.current.onlineCPUs) + slack, "other_load \(other) over \(seconds) s")
    }
}
