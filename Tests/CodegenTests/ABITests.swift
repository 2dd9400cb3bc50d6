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

@Suite struct CNameTests {
    static let source = """
        model @m {
          seq T <= 8
          input %int : f32[T, 8]
          input %a.b : f32[T, 8]
          input %a_b : f32[T, 8]
          %y = add(%int, %a.b) : f32[T, 8]
          %z = add(%y, %a_b) : f32[T, 8]
          output %z
        }
        """

    @Test func badNamesAreLocatedErrorsBeforeAnyCode() throws {
        let (module, weights) = try load(source: Self.source, path: "m.tir")
        do {
            _ = try compileAOT(module, weights: weights, AOTRequest(target: .host, headerName: "m.h", sourceFile: "dir/m.tir"))
            Issue.record("compiled a model whose header would not compile")
        } catch let list as DiagnosticList {
            let text = list.description
            #expect(text.contains("dir/m.tir:3:9: error: input %int cannot be a parameter of the C header: 'int' is a C or C++ keyword"), "\(text)")
            #expect(text.contains("dir/m.tir:5:9: error: input %a_b and input %a.b both become the C name 'a_b'"), "\(text)")
            #expect(list.diagnostics.count == 2)
        }
        // Without the file, the model's name stands in for it.
        #expect(throws: DiagnosticList.self) {
            _ = try compileAOT(module, weights: weights, AOTRequest(target: .host, headerName: "m.h"))
        }
        // The JIT needs no C names.
        _ = try JITModel(module, weights: weights)
    }

    @Test func theSymbolPrefixMustNotBeReserved() throws {
        let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
        for prefix in ["_gpt", "__gpt", "gpt__x"] {
            #expect(throws: DiagnosticList.self, "\(prefix)") {
                _ = try compileAOT(module, weights: weights, AOTRequest(target: .host, prefix: prefix, headerName: "m.h"))
            }
        }
        // A prefix that is not an identifier is mapped like any name, and makes the guard.
        let out = try compileAOT(module, weights: weights, AOTRequest(target: .host, prefix: "my model.v2", headerName: "x/m.h"))
        #expect(out.header.contains("int32_t my_model_v2_forward(") && out.header.contains("#ifndef TFC_MY_MODEL_V2_H_INCLUDED"))
    }

    @Test func theMappingIsDeterministic() {
        #expect(cIdentifier("gpt-tiny.v2") == "gpt_tiny_v2")
        #expect(cIdentifier("0") == "m_0")
        #expect(cIdentifier("") == "m_")
        #expect(cIdentifier("h0.ln1.g") == "h0_ln1_g")
        let names = CNames(prefix: "gpt")
        #expect(names.countMacro("h0.x") == "GPT_H0_X_COUNT" && names.includeGuard == "TFC_GPT_H_INCLUDED")
    }
}
