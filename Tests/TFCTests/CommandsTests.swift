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
            #expect(String(describing: error) == "unknown --emit kind 'exe' (expected obj, header, llvm-ir or asm)")
        }
    }
}
