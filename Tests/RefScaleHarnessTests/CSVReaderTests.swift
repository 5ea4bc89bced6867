import Glibc
import Testing
@testable import RefScaleHarness

@Suite struct CSVReaderTests {
    @Test func readingBackWhatTheWriterQuotedGivesTheSameFields() throws {
        let fields = ["plain", "a,b", "say \"hi\"", "two\nlines", "", "\"", ",", "trailing space "]
        let text = CSVWriter.line(fields) + CSVWriter.line(fields.reversed())
        let records = try CSVReader.records(text)
        #expect(records.map(\.fields) == [fields, fields.reversed()])
        #expect(records.map(\.line) == [1, 2 + 1], "the second record starts after the quoted line break")
    }

    @Test func crlfLineEndsAndAMissingFinalLineBreakAreAccepted() throws {
        let records = try CSVReader.records("a,b\r\n1,\"x\r\ny\"\r\n2,3")
        #expect(records.map(\.fields) == [["a", "b"], ["1", "x\r\ny"], ["2", "3"]])
    }

    @Test func anUnclosedQuoteIsAnErrorNamingItsLine() {
        #expect(throws: HarnessError.self) { try CSVReader.records("a,b\n1,\"open\n", source: "f.csv") }
        do {
            _ = try CSVReader.records("a,b\n1,\"open\n", source: "f.csv")
        } catch {
            #expect("\(error)" == "f.csv:2: a quoted field is never closed")
        }
    }

    @Test func aQuoteInsideAnUnquotedFieldIsAnError() {
        #expect(throws: HarnessError.self) { try CSVReader.records("a,b\n1,x\"y\n") }
        #expect(throws: HarnessError.self) { try CSVReader.records("a,b\n1,\"x\"y\n") }
    }

    @Test func rowsKeepEveryColumnOfTheirHeader() throws {
        let text = "scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid,new_column\n"
            + "atomic,private,1,1,10,1,10,0.1,true,42\n"
        let rows = try CSVReader.rows(text: text, source: "t.csv")
        #expect(rows.count == 1 && rows[0]["new_column"] == "42" && rows[0].isValid)
    }

    @Test(arguments: [
        ("", "t.csv: empty file, expected refscale's CSV header"),
        ("a,b,c\n1,2,3\n", "t.csv: not a refscale CSV file: missing column(s) scheme, workload, threads, rep, ops, elapsed_s, ops_per_s, ns_per_op, valid"),
        ("scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op\n", "t.csv: not a refscale CSV file: missing column(s) valid"),
        ("scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid\n", "t.csv: no rows below the header"),
        ("scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid\natomic,private,1\n", "t.csv:2: 3 fields, the header has 9"),
        ("scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid\natomic,private,0,1,1,1,1,1,true\n", "t.csv:2: threads is not a positive integer: '0'"),
        ("scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid\natomic,private,1,1,1,1,fast,1,true\n", "t.csv:2: ops_per_s is not a number: 'fast'"),
    ])
    func badFilesAreRefusedInOneLine(text: String, message: String) {
        do {
            _ = try CSVReader.rows(text: text, source: "t.csv")
            Issue.record("accepted: \(message)")
        } catch {
            #expect("\(error)" == message)
            #expect(!"\(error)".contains("\n"))
        }
    }

    @Test func aMissingFileAndADirectoryAreNamed() {
        do {
            _ = try CSVReader.rows(path: "/nonexistent/refscale.csv")
            Issue.record("a missing file was read")
        } catch {
            #expect("\(error)" == "/nonexistent/refscale.csv: no such file")
        }
        do {
            _ = try CSVReader.rows(path: "/tmp")
            Issue.record("a directory was read")
        } catch {
            #expect("\(error)" == "/tmp: is a directory, not a CSV file")
        }
    }
}
