// Large hostile inputs: reading a `.tir` of tens of megabytes costs memory for its text and for
// what is kept from it (the first 50 diagnostics), not for every Character or token in it. Each
// case runs the built `tfc check` as its own child and reads that child's peak resident memory
// (with Linux's wait4; tfc is built and tested on Linux).
#if os(Linux)
import Foundation
import Glibc
import Testing

/// Runs tfc, its stderr to `errPath`, and returns the exit status (nil after a signal), the
/// child's peak resident memory in bytes and the seconds it took. wait4 reads the usage of this
/// one child, not of other tests' children running at the same time.
///
/// Linux counts into a child's peak the peak of the memory it was spawned from (at exec, the
/// old address space's high-water mark goes into the process's maxrss), so a child reads at
/// least this test process's own peak, also returned: a reading above it is the child's own.
private func tfcMeasured(_ arguments: [String], stderrTo errPath: String) throws
    -> (status: Int32?, maxRSS: Int, parentMaxRSS: Int, seconds: Double) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv = ([tfcPath] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var own = rusage()
    getrusage(RUSAGE_SELF.rawValue, &own)
    let start = Date()
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, tfcPath, &actions, nil, argv, environ)
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL) }
    }
    let unit = 1024  // ru_maxrss is in kilobytes
    // WIFEXITED / WEXITSTATUS, which Swift does not import.
    let exited = status & 0x7F == 0
    return (exited ? (status >> 8) & 0xFF : nil, usage.ru_maxrss * unit, own.ru_maxrss * unit,
            Date().timeIntervalSince(start))
}

/// Writes `text` to `dir/name`, runs `tfc check` on it and checks the reader's memory: under four
/// times the text's size plus 200 MB (the text itself is held twice while it is read in; the
/// old reader, which made an array of Characters and one of every token, took 27 times the
/// size of a garbage file). Returns the stderr; the seconds are printed, with no bound to fail on a slow machine.
private func checkLargeFile(_ text: String, named name: String, in dir: String) throws -> String {
    let path = dir + "/" + name
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    let bytes = text.utf8.count
    let run = try tfcMeasured(["check", path], stderrTo: dir + "/stderr.txt")
    let stderr = try String(contentsOfFile: dir + "/stderr.txt", encoding: .utf8)
    print("tfc check \(name): \(bytes >> 20) MiB of text, peak \(run.maxRSS >> 20) MiB resident "
          + "(this process's peak: \(run.parentMaxRSS >> 20) MiB), " + String(format: "%.1f s", run.seconds))
    #expect(run.status == 1, "\(name): \(stderr.suffix(500))")
    // Not above the bound, or not above what it inherited (then its own peak was lower still).
    #expect(run.maxRSS < 4 * bytes + 200 << 20 || run.maxRSS <= run.parentMaxRSS,
            "\(name): peak \(run.maxRSS >> 20) MiB resident for \(bytes >> 20) MiB of text")
    return stderr
}

@Suite(.serialized) struct LargeInputTests {
    @Test func twoMillionLinesOfGarbageAreReadInBoundedMemory() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        // About 46 MB, four lexical errors a line and no model header: reading stops at the
        // 50th error (line 13) and says so.
        let stderr = try checkLargeFile(String(repeating: "%% 12abc \"unterminated\n", count: 2_000_000),
                                        named: "garbage.tir", in: dir)
        #expect(stderr.components(separatedBy: ": error: ").count - 1 == 50)
        #expect(stderr.contains("garbage.tir:13:2: error: expected a name after '%'"), "\(stderr.suffix(600))")
        #expect(!stderr.contains("garbage.tir:13:4:"))
        #expect(stderr.contains("garbage.tir: note: too many errors: stopped after the first 50; the rest of the file was not read"),
                "\(stderr.suffix(300))")

        // The same lines inside a model: reading stops at the first item after the 50th error,
        // and counts the three more it had found (the rest of that line and the first token of the next).
        let inModel = try checkLargeFile("model @m {\n" + String(repeating: "  %% 12abc \"unterminated\n", count: 2_000_000) + "}\n",
                                         named: "model.tir", in: dir)
        #expect(inModel.components(separatedBy: ": error: ").count - 1 == 50)
        #expect(inModel.contains("model.tir: note: too many errors: stopped after the first 50 (and 3 more not shown); the rest of the file was not read"),
                "\(inModel.suffix(300))")
    }

    @Test func everyTokenOfALargeFileIsLexedInBoundedMemory() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        // About 10 MB of well-formed statements after a misspelled header: nothing is parsed,
        // but every one of its 4 million tokens is lexed (for lexical errors) and none is kept.
        // (Smaller than the garbage above, which stops early: a debug build lexes about 0.5 MB
        // a second. The old reader took 50 bytes a byte of such text.)
        let stderr = try checkLargeFile("modle @m {\n" + String(repeating: "  %y = gelu(%x) {k = 1.5e3} : f32[T, 64]\n", count: 250_000) + "}\n",
                                        named: "tokens.tir", in: dir)
        #expect(stderr.components(separatedBy: ": error: ").count - 1 == 1)
        #expect(stderr.contains("tokens.tir:1:1: error: expected 'model', found 'modle'"), "\(stderr.prefix(300))")
    }
}
#endif
