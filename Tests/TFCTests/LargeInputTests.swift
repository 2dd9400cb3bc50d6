// Large hostile inputs: reading a `.tir` of tens of megabytes costs memory for its text and for
// what is kept from it (the first 50 diagnostics), not for every Character or token in it. Each
// case runs the built `tfc check` and reads that child's own peak resident memory.
import Foundation
import Testing

/// `peak COMMAND ARGS...`: runs the command (its stdout to /dev/null) and prints the command's
/// peak resident memory in kilobytes, then exits with its status. A separate small program,
/// because Linux counts into a process's peak the peak of the memory it was spawned from (at
/// exec, the old address space's high-water mark goes into its maxrss): tfc spawned from this
/// test process would read at least the test process's own peak. Forked from this program, it
/// reads its own.
private let peakRunnerSource = """
    #define _DEFAULT_SOURCE
    #include <errno.h>
    #include <fcntl.h>
    #include <stdio.h>
    #include <sys/resource.h>
    #include <sys/wait.h>
    #include <unistd.h>

    int main(int argc, char **argv) {
        if (argc < 2) return 2;
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            dup2(open("/dev/null", O_WRONLY), 1);
            execv(argv[1], argv + 1);
            _exit(127);
        }
        int status;
        struct rusage usage;
        while (wait4(pid, &status, 0, &usage) < 0) {
            if (errno != EINTR) return 2;
        }
        printf("%ld\\n", usage.ru_maxrss);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    """

/// Builds the peak runner in `dir`.
private func buildPeakRunner(in dir: String) throws -> String {
    try peakRunnerSource.write(toFile: dir + "/peak.c", atomically: false, encoding: .utf8)
    let cc = try run(cCompiler, ["-std=c11", "-O1", "-Wall", "-Werror", "-o", dir + "/peak", dir + "/peak.c"])
    try #require(cc.status == 0, "\(cc.stderr)")
    return dir + "/peak"
}

/// Writes `text` to `dir/name`, runs `tfc check` on it and checks its peak memory: under four
/// times the text's size plus 200 MB (the text is held twice while it is read in; the old
/// reader, which made an array of Characters and one of every token, took 27 times the size
/// of a garbage file). Returns the stderr; the seconds are printed, with no bound to fail on a
/// slow machine.
private func checkLargeFile(_ text: String, named name: String, in dir: String) throws -> String {
    let path = dir + "/" + name
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    let bytes = text.utf8.count
    let runner = try buildPeakRunner(in: dir)
    let start = Date()
    let r = try run(runner, [tfcPath, "check", path])
    let seconds = Date().timeIntervalSince(start)
    #if os(Linux)
    let unit = 1024  // ru_maxrss: kilobytes on Linux, bytes on macOS
    #else
    let unit = 1
    #endif
    let peak = try #require(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(r.stdout)") * unit
    print("tfc check \(name): \(bytes >> 20) MiB of text, peak \(peak >> 20) MiB resident, "
          + String(format: "%.1f s", seconds))
    #expect(r.status == 1, "\(name): \(r.stderr.suffix(500))")
    #expect(peak < 4 * bytes + 200 << 20, "\(name): peak \(peak >> 20) MiB resident for \(bytes >> 20) MiB of text")
    return r.stderr
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
        // and counts the three more it had found (the rest of that line and the first token
        // of the next).
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
