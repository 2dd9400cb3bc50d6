// Saved fuzz inputs (Tests/TFCTests/FuzzRegressions/<target>/) fed to the same entry points as
// the libFuzzer targets in Fuzz/Sources: every one must be refused with a clean error, never a
// crash, a hang or an unbounded allocation. A file named `ok-*` is a valid input instead, and
// must pass the target's invariants (round trip, verification). See Docs/testing.md.
import Foundation
import Testing
import TIR
import TIRFormats
import TIRImport

private let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("FuzzRegressions")

/// The saved inputs of one target, by file name.
private func inputs(_ target: String) -> [String] {
    let folder = regressions.appendingPathComponent(target).path
    return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
}

private func bytes(_ target: String, _ name: String) throws -> Data {
    try Data(contentsOf: regressions.appendingPathComponent(target).appendingPathComponent(name))
}

/// What a target made of one input: refused (with the error's text) or accepted.
private enum Outcome {
    case refused(String)
    case accepted
}

private func expectOutcome(_ outcome: Outcome, _ target: String, _ name: String) {
    switch outcome {
    case .refused(let message):
        #expect(!name.hasPrefix("ok-"), "\(target)/\(name) was refused: \(message)")
        #expect(!message.isEmpty, "\(target)/\(name): an empty error message")
    case .accepted:
        #expect(name.hasPrefix("ok-"), "\(target)/\(name) was accepted; it should be refused")
    }
}

@Suite struct FuzzRegressionTests {
    @Test func everyTargetHasSavedInputs() {
        for target in ["tir", "safetensors", "config", "npy"] {
            #expect(!inputs(target).isEmpty, "no saved inputs in FuzzRegressions/\(target)")
        }
    }

    /// fuzz-tir: parse, verify; a module that verifies must survive print -> parse unchanged.
    @Test(arguments: inputs("tir"))
    func tir(_ name: String) throws {
        let source = String(decoding: try bytes("tir", name), as: UTF8.self)
        let outcome: Outcome
        do throws(DiagnosticList) {
            let module = try parseModule(source, file: name)
            let problems = verifyModule(module, file: name)
            if problems.isEmpty {
                let text = printModule(module)
                let reparsed = try parseModule(text, file: "printed.tir")
                #expect(reparsed == module, "\(name): parse(print(m)) != m\n\(text)")
                #expect(verifyModule(reparsed, file: "printed.tir").isEmpty)
                #expect(printModule(reparsed) == text)
                outcome = .accepted
            } else {
                outcome = .refused(DiagnosticList(problems).rendered(source: source))
            }
        } catch {
            outcome = .refused(error.rendered(source: source))
        }
        expectOutcome(outcome, "tir", name)
    }

    /// fuzz-safetensors: open the image, then convert every tensor; then the same for the input
    /// read as "header JSON, NUL, data" (fuzz-safetensors reads each input both ways). The
    /// file as it is must be refused; the second form need only not crash.
    @Test(arguments: inputs("safetensors"))
    func safetensors(_ name: String) throws {
        let data = try bytes("safetensors", name)
        func open(_ image: Data) -> Outcome {
            do throws(Diagnostic) {
                let file = try SafetensorsFile(bytes: image, path: name)
                for entry in file.entries {
                    let tensor = try file.tensor(entry)
                    #expect(tensor.shape == entry.shape)
                }
                return .accepted
            } catch {
                return .refused(error.description)
            }
        }
        expectOutcome(open(data), "safetensors", name)
        let split = data.firstIndex(of: 0) ?? data.endIndex
        var image = Data()
        withUnsafeBytes(of: UInt64(split - data.startIndex).littleEndian) { image.append(contentsOf: $0) }
        image.append(data[..<split])
        if split < data.endIndex { image.append(data[(split + 1)...]) }
        _ = open(image)
    }

    /// fuzz-npy: read the file.
    @Test(arguments: inputs("npy"))
    func npy(_ name: String) throws {
        let path = regressions.appendingPathComponent("npy").appendingPathComponent(name).path
        var outcome = Outcome.accepted
        do throws(Diagnostic) {
            let tensor = try readNpy(path: path)
            #expect(tensor.shape.allSatisfy { $0 >= 0 })
        } catch {
            outcome = .refused(error.description)
        }
        expectOutcome(outcome, "npy", name)
    }

    /// fuzz-config: import a checkpoint folder holding the input as config.json next to a
    /// fixture's model.safetensors (chosen as fuzz-config chooses it); an accepted import must
    /// verify, round-trip and load its weights.
    @Test(arguments: inputs("config"))
    func config(_ name: String) throws {
        let data = try bytes("config", name)
        let fixture = importFixture(for: Array(data))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-fuzz-regression-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fixtures = regressions.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ImportTests/Fixtures/\(fixture)/model.safetensors")
        try FileManager.default.copyItem(atPath: fixtures.path, toPath: folder + "/model.safetensors")
        try data.write(to: URL(fileURLWithPath: folder + "/config.json"))
        let tirPath = folder + "/model.tir"

        var outcome = Outcome.accepted
        do throws(Diagnostic) {
            let module = try importCheckpoint(directory: folder, tirPath: tirPath)
            #expect(verifyModule(module, file: tirPath).isEmpty)
            #expect((try? parseModule(printModule(module), file: tirPath)) == module)
            _ = try loadWeights(for: module, tirPath: tirPath)
        } catch {
            outcome = .refused(error.description)
        }
        expectOutcome(outcome, "config", name)
    }
}
