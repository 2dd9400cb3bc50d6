// Helpers of the end-to-end tests: run the tfc executable and other commands, temp folders.
import Foundation

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func examplePath(_ name: String) -> String { repoRoot.appendingPathComponent("Examples/\(name)").path }

/// The tfc executable SwiftPM built beside this test binary.
let tfcPath: String = {
    let binDir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    return binDir.appendingPathComponent("tfc").path
}()

struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion, capturing its output.
func run(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting, so a large output cannot block the child.
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    let stderrData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                  stderr: String(decoding: stderrData, as: UTF8.self))
}

func tfc(_ arguments: String...) throws -> Result { try run(tfcPath, arguments) }
func tfc(_ arguments: [String]) throws -> Result { try run(tfcPath, arguments) }

/// A fresh temporary folder, removed by the caller with `cleanup`.
func makeTempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func cleanup(_ dir: String) { try? FileManager.default.removeItem(atPath: dir) }

/// The C compiler: $CC, else cc.
let cCompiler: String = {
    if let cc = ProcessInfo.processInfo.environment["CC"], !cc.isEmpty { return cc }
    return "/usr/bin/cc"
}()
