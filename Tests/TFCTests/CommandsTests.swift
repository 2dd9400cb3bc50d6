// The driver's commands called as a library, their text collected from a `Console` instead of
// a process's streams (EndToEndTests runs the same commands through the tfc binary).
import Foundation
import Testing
import TFCDriver

/// Text a command wrote, by stream.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var outText = ""
    private var errText = ""

    var out: String { lock.withLock { outText } }
    var err: String { lock.withLock { errText } }

    var console: Console {
        Console(write: { text in self.lock.withLock { self.outText += text } },
                writeError: { text in self.lock.withLock { self.errText += text } })
    }
}

@Suite struct CommandsTests {
    @Test func checkWritesItsSummaryToTheConsole() throws {
        let collected = Collected()
        let path = examplePath("gpt-tiny.tir")
        try Commands.check(model: path, printCanonical: false, console: collected.console)
        #expect(collected.out.hasPrefix("\(path): ok: @gpt_tiny, "), "\(collected.out)")
        #expect(collected.out.hasSuffix(" values)\n"))
        #expect(collected.err.isEmpty)
    }

    @Test func optWritesTheModelAndItsRemarksToTheirStreams() throws {
        let collected = Collected()
        try Commands.opt(model: examplePath("gpt-tiny.tir"), passes: nil, variant: .preCRMS, output: nil,
                         printAfterAll: false, remarks: true, console: collected.console)
        #expect(collected.out.contains("crmsnorm("), "\(collected.out.prefix(300))")
        #expect(collected.err.contains("remark:"), "\(collected.err.prefix(300))")
        #expect(collected.err.hasSuffix("note: the rewritten weights were not saved: use -o FILE.tir to write a runnable model and its weights\n"))
    }

    @Test func failuresAreThrownRenderedAndWriteNothing() throws {
        let collected = Collected()
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        #expect(throws: DriverError.self) {
            try Commands.compile(model: examplePath("gpt-tiny.tir"), variant: .preLN, remarks: false, output: "\(dir)/x.o",
                                 header: nil, emit: "obj,header", target: "sparc-sun-nowhere", cpu: nil, prefix: nil,
                                 minParallelWork: defaultMinParallelFlops, console: collected.console)
        }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.o"))
        #expect(collected.out.isEmpty && collected.err.isEmpty)
    }

    @Test func emitKindsParseFromTheirNames() throws {
        #expect(try EmitKinds(list: "obj,header") == [.object, .header])
        #expect(try EmitKinds(list: "llvm-ir,asm,asm") == [.llvmIR, .assembly])
        #expect(try EmitKinds(list: "") == [])
        do {
            _ = try EmitKinds(list: "obj,exe")
            Issue.record("an unknown kind was accepted")
        } catch {
            #expect(String(describing: error) == "unknown --emit kind 'exe' (expected obj, header, llvm-ir, llvm-ir-unopt, asm, fusion or memory-plan)")
        }
    }

    @Test func compileEmitsThePlansAndTheUnoptimizedIR() throws {
        let collected = Collected()
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try Commands.compile(model: examplePath("gpt-tiny.tir"), variant: .preLN, remarks: false, output: "\(dir)/m.o",
                             header: nil, emit: "fusion,memory-plan,llvm-ir-unopt", target: nil, cpu: nil, prefix: nil,
                             minParallelWork: defaultMinParallelFlops, console: collected.console)
        let fusion = try String(contentsOfFile: "\(dir)/m.fusion.txt", encoding: .utf8)
        let memory = try String(contentsOfFile: "\(dir)/m.memory-plan.txt", encoding: .utf8)
        let ir = try String(contentsOfFile: "\(dir)/m.unopt.ll", encoding: .utf8)
        #expect(fusion.contains("%h0.fc: gemm, epilogue bias+gelu_tanh"), "\(fusion)")
        #expect(memory.contains("// memory plan: workspace "), "\(memory)")
        #expect(ir.contains("define i32 @gpt_tiny_forward_threads("))
        // Only what was asked for.
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.o"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.h"))
    }

    @Test func checkDoesNotGenerateSeededParameters() throws {
        // 8 GiB of declared parameters: checked from their initializers, never generated.
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let path = "\(dir)/big.tir"
        try """
            model @big {
              weights random(seed = 1, std = 0.02)
              input %x : f32[1, 4]
              param @a : f32[32768, 32768] = zeros
              param @b : f32[32768, 32768]
              %y = gelu(%x) : f32[1, 4]
              output %y
            }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let collected = Collected()
        try Commands.check(model: path, printCanonical: false, console: collected.console)
        #expect(collected.out == "\(path): ok: @big, 1 ops, 2 parameters (2147483648 values)\n")
    }
}
