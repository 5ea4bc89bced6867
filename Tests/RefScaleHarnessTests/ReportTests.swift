import Testing
@testable import RefScaleHarness

/// A small fixed CSV: one host, two workloads, 3 threads oversubscribed, two handle-local index
/// widths, and one invalid row whose validation error holds a comma and quotes.
let reportFixture = #"""
    scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid,oversubscribed,objects,handle_index,validation_error,host,cpu_model,online_cpus,timestamp
    atomic,shared-hot,1,1,100000000,0.5,200000000,5.0,true,false,4,,,box,Test CPU,2,2026-01-02T03:04:05Z
    atomic,shared-hot,1,2,90000000,0.5,180000000,5.556,true,false,4,,,box,Test CPU,2,2026-01-02T03:04:06Z
    atomic,shared-hot,2,1,35000000,0.5,70000000,28.571,true,false,4,,,box,Test CPU,2,2026-01-02T03:04:07Z
    atomic,shared-hot,2,2,30000000,0.5,60000000,33.333,false,false,4,,"object 0: count 3, expected ""2""",box,Test CPU,2,2026-01-02T03:04:08Z
    atomic,shared-hot,3,1,32500000,0.5,65000000,46.154,true,true,4,,,box,Test CPU,2,2026-01-02T03:04:09Z
    handle-local,shared-hot,1,1,400000000,0.5,800000000,1.25,true,false,4,low3,,box,Test CPU,2,2026-01-02T03:04:10Z
    handle-local,shared-hot,2,1,800000000,0.5,1600000000,1.25,true,false,4,low3,,box,Test CPU,2,2026-01-02T03:04:11Z
    handle-local,shared-hot,3,1,750000000,0.5,1500000000,2.0,true,true,4,low3,,box,Test CPU,2,2026-01-02T03:04:12Z
    handle-local,shared-hot,1,1,410000000,0.5,820000000,1.22,true,false,4,low4,,box,Test CPU,2,2026-01-02T03:04:13Z
    noop,shared-hot,1,1,1000000000,0.5,2000000000,0.5,true,false,4,,,box,Test CPU,2,2026-01-02T03:04:14Z
    noop,shared-hot,2,1,2000000000,0.5,4000000000,0.5,true,false,4,,,box,Test CPU,2,2026-01-02T03:04:15Z
    atomic,private,1,1,50000000,0.5,100000000,10.0,true,false,1,,,box,Test CPU,2,2026-01-02T03:04:16Z
    atomic,private,2,1,95000000,0.5,190000000,10.526,true,false,1,,,box,Test CPU,2,2026-01-02T03:04:17Z

    """#

/// What `refscale report` prints for `reportFixture`, checked by hand: atomic on shared-hot at 2
/// threads is 70 (the invalid 60 is left out), 1 thread is the median of 200 and 180, whose
/// interval is their range at 1 - 2 / 2^2 = 50%, marked `~`; handle-local low3 at 1 thread makes
/// 800 / 2000 = 0.40 of noop's throughput.
let expectedReport = #"""
    host box (Test CPU, 2 online CPUs), 2026-01-02T03:04:05Z to 2026-01-02T03:04:17Z: 13 rows, 1 invalid

    workload private: median Mops/s over valid repetitions [95% interval]
    scheme             1             2
    atomic  100.00 (n=1)  190.00 (n=1)

    workload private: speedup over 1 thread (median / median at 1 thread)
    scheme     1     2
    atomic  1.00  1.90

    workload private: throughput ratio to atomic at the same threads (>1: faster)
    scheme     1     2
    atomic  1.00  1.00

    workload private: no valid noop rows, so no harness floor

    workload shared-hot: median Mops/s over valid repetitions [95% interval]; * more threads than online CPUs
    scheme                                    1              2             3*
    atomic             190.00 [180.00, 200.00]~    70.00 (n=1)    65.00 (n=1)
    handle-local low3              800.00 (n=1)  1600.00 (n=1)  1500.00 (n=1)
    handle-local low4              820.00 (n=1)              -              -
    noop                          2000.00 (n=1)  4000.00 (n=1)              -

    workload shared-hot: speedup over 1 thread (median / median at 1 thread)
    scheme                1     2    3*
    atomic             1.00  0.37  0.34
    handle-local low3  1.00  2.00  1.88
    handle-local low4  1.00     -     -
    noop               1.00  2.00     -

    workload shared-hot: throughput ratio to atomic at the same threads (>1: faster)
    scheme                 1      2     3*
    atomic              1.00   1.00   1.00
    handle-local low3   4.21  22.86  23.08
    handle-local low4   4.32      -      -
    noop               10.53  57.14      -

    workload shared-hot: throughput over noop's, the harness floor (noop's time per op over the series'; 1: all harness)
    scheme                1     2  3*
    atomic             0.10  0.02   -
    handle-local low3  0.40  0.40   -
    handle-local low4  0.41     -   -
    noop               1.00  1.00   -

    -: no valid row at that thread count (for a ratio: no atomic or noop series with the same parameters)
    [a, b]: distribution-free 95% interval of the median (order statistics, binomial method); ~: fewer than 6 valid repetitions, so the interval is their range and covers the median with less than 95% (1 - 2^(1-n): 75% for 3); (n=1): one repetition, no interval
    !: the median is above noop's interval: the scheme beats the harness floor (see README, The floor)

    invalid rows left out: 1
    scheme  workload    threads  rep  validation_error
    atomic  shared-hot        2    2  object 0: count 3, expected "2"
    """#

@Suite struct ReportTests {
    @Test func reportOfAFixedCSVMatchesTheExpectedTextExactly() throws {
        let rows = try CSVReader.rows(text: reportFixture, source: "fixture.csv")
        let lines = Report(rows: rows).lines()
        let expected = expectedReport.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == expected.count)
        for (index, (line, wanted)) in zip(lines, expected).enumerated() {
            #expect(line == wanted, "line \(index + 1)")
        }
    }

    @Test func rowsOfSeveralHostsGetAHeadingAndTablesEach() throws {
        let rows = try CSVReader.rows(text: reportFixture, source: "fixture.csv").enumerated().map { index, row in
            var values = row.values
            if index % 2 == 1 { values["host"] = "other" }
            return CSVRow(values: values)
        }
        let lines = Report(rows: rows).lines()
        #expect(lines.filter { $0.hasPrefix("host ") && $0.contains(" rows, ") }.map { $0.prefix(10) } == ["host box (", "host other"])
        #expect(lines.filter { $0.hasPrefix("workload shared-hot: median") }.count == 2)
        // With several hosts, the invalid rows say which host each came from.
        #expect(lines.contains("host   scheme  workload    threads  rep  validation_error"))
    }

    @Test func aWorkloadWithoutAtomicRowsSaysSoInsteadOfARatioTable() throws {
        let rows = try CSVReader.rows(text: reportFixture, source: "fixture.csv").filter { $0["scheme"] != "atomic" }
        let lines = Report(rows: rows).lines()
        #expect(lines.contains("workload shared-hot: no valid atomic rows, so no ratio to atomic"))
        #expect(!lines.contains { $0.contains("ratio to atomic at the same threads") })
    }

    @Test func ratioToAtomicMatchesEveryParameterButTheOnesAtomicLeavesBlank() throws {
        // Two atomic series (objects 4 and 8): each handle-local series is divided by its own.
        let text = """
            scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid,objects,handle_index
            atomic,shared-hot,1,1,1,1,100000000,1,true,4,
            atomic,shared-hot,1,1,1,1,50000000,1,true,8,
            handle-local,shared-hot,1,1,1,1,400000000,1,true,4,low3
            handle-local,shared-hot,1,1,1,1,400000000,1,true,8,low3
            """
        let lines = Report(rows: try CSVReader.rows(text: text, source: "t.csv")).lines()
        let ratioTable = lines.drop { !$0.contains("ratio to atomic") }.dropFirst(2).prefix(4)
        #expect(Array(ratioTable) == [
            "atomic objects=4        1.00",
            "atomic objects=8        1.00",
            "handle-local objects=4  4.00",
            "handle-local objects=8  8.00",
        ])
    }

    @Test func fixedFormattingKeepsEveryDecimal() {
        #expect(fixed(190, decimals: 2) == "190.00")
        #expect(fixed(0.375, decimals: 2) == "0.38")
        #expect(fixed(1.05, decimals: 1) == "1.1")
        #expect(fixed(-0.004, decimals: 2) == "0.00")
        #expect(fixed(-2.5, decimals: 2) == "-2.50")
        #expect(fixed(.nan, decimals: 2) == "-")
    }

    @Test func labelsSortObjectCountsByValue() {
        #expect(naturalOrder("handle-local objects=4", "handle-local objects=16"))
        #expect(!naturalOrder("handle-local objects=16", "handle-local objects=4"))
        #expect(naturalOrder("handle-local low3", "handle-local low4"))
    }

    @Test func followUpCommandsQuoteWhatTheShellWouldSplit() {
        #expect(shellQuoted("results/default-vm-20260101T000000Z.csv") == "results/default-vm-20260101T000000Z.csv")
        #expect(shellQuoted("my results/a.csv") == "'my results/a.csv'")
        #expect(shellQuoted("it's.csv") == #"'it'\''s.csv'"#)
        let commands = Report.followUpCommands(csvPath: "out dir/x.csv", outDirectory: "out dir")
        #expect(commands.plot.hasPrefix("python3 ") && commands.plot.hasSuffix("plot.py 'out dir/x.csv' --out 'out dir'"))
        #expect(commands.report.hasSuffix(" report 'out dir/x.csv'"))
    }
}
