// What every fuzz target shares: handing its test function to libFuzzer, a scratch folder for
// entry points that read files, failing loudly when an invariant breaks, and the repository's
// location (for fixtures).
import CFuzzer
import Foundation

nonisolated(unsafe) private var testOneInput: ((UnsafeRawBufferPointer) -> Void)?

/// Runs libFuzzer with `body` as the test function and exits with its status. libFuzzer reads
/// the command line: `fuzz-x CORPUS... -max_total_time=60`, or `fuzz-x FILE...` to replay
/// inputs. `body` must return normally for an input the code under test handles correctly
/// (a thrown error is a correct answer) and trap (`fail`) when an invariant breaks.
public func runFuzzer(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
    testOneInput = body
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { LLVMFuzzerTestOneInput($0, $1) })
}

/// libFuzzer's test function, by its C name: `-sanitize=fuzzer` links libFuzzer's own main,
/// which needs the symbol, although SwiftPM's entry point (the executable's main.swift,
/// which calls `runFuzzer`) is the one that runs.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    testOneInput?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Reports a broken invariant as a crash, so that libFuzzer saves the input.
public func fail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    FileHandle.standardError.write(Data("\nINVARIANT BROKEN: \(message)\n".utf8))
    fatalError("invariant broken", file: file, line: line)
}

/// A folder of this process's own, for inputs that must be files (in /dev/shm where it
/// exists, so that writing one costs no disk I/O). Removed at exit.
public let scratchFolder: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = (base as NSString).appendingPathComponent("tfc-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    scratchPathForExit = path
    atexit { try? FileManager.default.removeItem(atPath: scratchPathForExit) }
    return path
}()

nonisolated(unsafe) private var scratchPathForExit = ""

/// Writes `data` to `path`, or traps (a full /dev/shm is not a finding, but it must not pass
/// silently either).
public func writeInput(_ data: UnsafeRawBufferPointer, to path: String) {
    guard FileManager.default.createFile(atPath: path, contents: Data(data)) else {
        fatalError("cannot write the input to \(path)")
    }
}

/// The repository root: $TFC_ROOT, else three folders above this file (Fuzz/Sources/FuzzSupport).
public let repositoryRoot: String = {
    if let root = ProcessInfo.processInfo.environment["TFC_ROOT"], !root.isEmpty { return root }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
}()
