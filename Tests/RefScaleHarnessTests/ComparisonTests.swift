import Testing
@testable import RefScaleHarness

/// `report --compare`, `--compare-schemes`, the floor marker, and `--reps auto`'s plan.
@Suite struct ComparisonTests {
    static func rows(_ scheme: String, _ values: [Double], threads: Int = 1, objects: String = "1") -> [CSVRow] {
        values.enumerated().map { index, value in
            CSVRow(values: ["scheme": scheme, "workload": "private", "threads": String(threads), "rep": String(index + 1),
                            "ops_per_s": String(value), "valid": "true", "objects": objects, "host": "box"])
        }
    }

    static let naming = ["scheme", "objects"]

    @Test func twoFilesOfOneConfigurationGiveTheRatioItsIntervalAndAnExactTest() throws {
        let old = Comparison.Side(name: "old.csv", rows: Self.rows("atomic", [100e6, 101e6, 99e6, 102e6, 98e6]))
        let new = Comparison.Side(name: "new.csv", rows: Self.rows("atomic", [110e6, 111e6, 109e6, 112e6, 108e6]))
        let lines = try Comparison.files(old, new).lines(naming: Self.naming)
        let line = try #require(lines.first { $0.hasPrefix("private") })
        // Medians 100 and 110; every new value above every old one: p = 2 / C(10, 5).
        #expect(line.contains("100.00") && line.contains("110.00") && line.contains("1.100"))
        #expect(line.contains(fixed(2.0 / 252, decimals: 4)))
        #expect(line.contains("significant (exact)"))
    }

    @Test func threeAgainstThreeRepetitionsSayTheyCannotTell() throws {
        let old = Comparison.Side(name: "a", rows: Self.rows("atomic", [1e6, 2e6, 3e6]))
        let new = Comparison.Side(name: "b", rows: Self.rows("atomic", [4e6, 5e6, 6e6]))
        let lines = try Comparison.files(old, new).lines(naming: Self.naming)
        #expect(lines.contains { $0.contains("cannot tell: 3 against 3 repetitions") })
    }

    @Test func filesThatShareNoConfigurationAreRefused() {
        let old = Comparison.Side(name: "a", rows: Self.rows("atomic", [1e6], objects: "1"))
        let new = Comparison.Side(name: "b", rows: Self.rows("atomic", [1e6], objects: "4"))
        #expect(throws: UsageError.self) { try Comparison.files(old, new).lines(naming: Self.naming) }
    }

    @Test func twoSchemesInOneFileMatchOnEveryOtherParameter() throws {
        let rows = Self.rows("atomic", [1e6, 1.1e6, 0.9e6, 1.05e6, 0.95e6, 1.02e6])
            + Self.rows("noop", [2e6, 2.1e6, 1.9e6, 2.05e6, 1.95e6, 2.02e6])
            + Self.rows("noop", [9e6], threads: 2)
        let lines = try Comparison.schemes("atomic", "noop", rows: rows).lines(naming: Self.naming)
        #expect(lines.filter { $0.hasPrefix("private") }.count == 1)
        // Medians 1.01 and 2.01; every noop value above every atomic one.
        #expect(lines.contains { $0.contains("1.990") && $0.contains("significant (exact)") })
    }

    @Test func aSchemeAboveNoopsIntervalIsMarked() throws {
        let rows = Self.rows("noop", [100e6, 101e6, 99e6, 100.5e6, 99.5e6, 100e6]) + Self.rows("gil", [120e6])
        let lines = Report(rows: rows).lines()
        let floor = lines.drop { !$0.contains("harness floor") }.dropFirst(2)
        let gil = try #require(floor.first { $0.hasPrefix("gil") })
        #expect(gil.hasSuffix(" 1.20!"))
    }

    @Test func repsAutoIsRefusedBesideANumberAndTheTargetMustBeAFraction() throws {
        #expect(try RepetitionPlan.parse(["auto"], ciTarget: nil).plan == .auto(target: 0.02, cap: 30))
        #expect(try RepetitionPlan.parse([], ciTarget: nil).plan == .fixed(3))
        #expect(throws: UsageError.self) { try RepetitionPlan.parse(["auto", "5"], ciTarget: nil) }
        #expect(throws: UsageError.self) { try RepetitionPlan.parse(["auto"], ciTarget: 0) }
        #expect(throws: UsageError.self) { try RepetitionPlan.parse(["auto"], ciTarget: 1) }
        #expect(throws: UsageError.self) { try RepetitionPlan.parse(["0"], ciTarget: nil) }
    }
}
