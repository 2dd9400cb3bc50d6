// The generated C ABI: the status table and the header that prints it.
import Foundation
import LLVMBridge
import Testing
import TIR
@testable import TIRCodegen

@Suite struct StatusTableTests {
    @Test func everyCodeHasOneRowWithAUniqueNameAndValue() {
        let all = Status.all
        #expect(all.first == .ok && Status.ok.rawValue == 0)
        #expect(Set(all.map(\.rawValue)).count == all.count, "two codes share a value")
        #expect(Set(all.map(\.cName)).count == all.count, "two codes share a name")
        #expect(all.map(\.rawValue) == all.map(\.rawValue).sorted(), "the table is in value order")
        for s in all {
            #expect(s.cName == "OK" || s.cName.hasPrefix("ERR_"), "\(s.cName)")
            #expect(s.cName.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }, "\(s.cName)")
            #expect(!s.meaning.isEmpty && !s.meaning.contains("*/"))
            #expect(Status(rawValue: s.rawValue) == s)
        }
        #expect(Status(rawValue: -1) == nil)
    }

    @Test func theHeaderPrintsTheWholeTable() throws {
        let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
        let out = try compileAOT(module, weights: weights, AOTRequest(target: .host, headerName: "gpt_tiny.h"))
        let defines = out.header.split(separator: "\n").map(String.init).filter { $0.hasPrefix("#define GPT_TINY_OK ") || $0.hasPrefix("#define GPT_TINY_ERR_") }
        #expect(defines == Status.all.map { "#define GPT_TINY_\($0.cName) \($0.rawValue) /* \($0.meaning) */" })
    }
}
