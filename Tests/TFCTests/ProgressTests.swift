// Progress of long commands: on stderr when it is a terminal (run under script(1), which gives
// the command a pseudo-terminal), never on stdout, nothing when stderr is a pipe or with --quiet.
import Foundation
import Testing

/// Runs `command` (a shell command line) with a pseudo-terminal as its terminal; returns what
/// the terminal received.
func onTerminal(_ command: String) throws -> Result {
    try run("/usr/bin/script", ["-qec", command, "/dev/null"])
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
struct ProgressTests {
    @Test func aTerminalSeesStagesAndTheTimeTaken() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let r = try onTerminal("'\(tfcPath)' compile '\(examplePath("gpt-tiny.tir"))' -o '\(dir)/m.o' > '\(dir)/stdout.txt'")
        #expect(r.status == 0, "\(r.stdout)")
        // Each step of code generation is a stage of its own, and the summary times each.
        for stage in ["lowering to LLVM IR and packing weights", "optimizing (LLVM O3)", "generating machine code"] {
            #expect(r.stdout.contains("tfc compile: \(stage)"), "\(r.stdout)")
        }
        #expect(r.stdout.contains("tfc compile: done in "), "\(r.stdout)")
        #expect(r.stdout.contains("\r\u{1B}[K"), "the line is updated in place")
        // stdout keeps only the command's own lines.
        let stdout = try String(contentsOfFile: dir + "/stdout.txt", encoding: .utf8)
        #expect(stdout == "wrote \(dir)/m.o\nwrote \(dir)/m.h\n")
    }

    @Test func quietOrNotATerminalShowsNothing() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let quiet = try onTerminal("'\(tfcPath)' run '\(examplePath("gpt-tiny.tir"))' --tokens 1,2 --quiet > '\(dir)/out.txt'")
        #expect(quiet.status == 0)
        #expect(quiet.stdout.isEmpty, "\(quiet.stdout)")
        let piped = try tfc("run", examplePath("gpt-tiny.tir"), "--tokens", "1,2")
        #expect(piped.status == 0)
        #expect(piped.stderr.isEmpty, "\(piped.stderr)")
        #expect(!piped.stdout.contains("\u{1B}"))
    }

    @Test func anErrorOnATerminalIsOnALineOfItsOwn() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try FileManager.default.copyItem(atPath: examplePath("gpt-tiny.tir"), toPath: dir + "/v.tir")
        let r = try onTerminal("cd '\(dir)' && '\(tfcPath)' compile v.tir -o v.tir > out.txt")
        #expect(r.status != 0)
        #expect(r.stdout.contains("\r\u{1B}[Kerror: -o v.tir: would overwrite the input model v.tir"), "\(r.stdout)")
    }
}
