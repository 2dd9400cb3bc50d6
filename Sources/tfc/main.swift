// The tfc command line: thin ArgumentParser commands over the TFC library.
import ArgumentParser
import Foundation
import TFC
import TIR

struct TFCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tfc",
        abstract: "An ahead-of-time compiler for Pre-LN Transformer models.",
        subcommands: [Compile.self, Run.self, Check.self])
}

/// Prints a rendered error to stderr and exits non-zero.
func fail(_ error: any Error) -> Never {
    FileHandle.standardError.write(Data((String(describing: error) + "\n").utf8))
    exit(1)
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse and verify a model and resolve its parameters; generate no code.")

    @Argument(help: "The .tir model.") var model: String
    @Flag(help: "Print the model in canonical form.") var print = false

    func run() throws {
        do {
            let loaded = try loadModel(model)
            if print {
                Swift.print(printModule(loaded.module), terminator: "")
            } else {
                let m = loaded.module
                let count = loaded.weights.tensors.values.reduce(0) { $0 + $1.count }
                Swift.print("\(model): ok: @\(m.name), \(m.body.count) ops, \(m.params.count) parameters (\(count) values)")
            }
        } catch {
            fail(error)
        }
    }
}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model to a relocatable object file and a C header.",
        discussion: """
            Writes OUTPUT (an object file with the weights embedded) and a header beside it
            (model.o -> model.h) declaring <name>_forward. Link with: cc app.c model.o -lm
            """)

    @Argument(help: "The .tir model.") var model: String
    @Option(name: .shortAndLong, help: "The object file to write.") var output: String
    @Option(help: "The header to write (default: OUTPUT with the extension .h).") var header: String?
    @Option(help: ArgumentHelp("What to write, comma-separated: obj, header, llvm-ir, asm.",
                               valueName: "kinds")) var emit: String = "obj,header"
    @Option(help: "Target: host (default), x86_64, aarch64, or an LLVM triple.") var target: String?
    @Option(help: "Target CPU (default: the host's, or a generic CPU of the target).") var cpu: String?
    @Option(help: "C symbol prefix (default: the model's name).") var name: String?

    func validate() throws {
        for kind in emit.split(separator: ",") where Compile.kinds[String(kind)] == nil {
            throw ValidationError("unknown --emit kind '\(kind)' (expected obj, header, llvm-ir or asm)")
        }
    }

    static let kinds: [String: EmitKinds] = ["obj": .object, "header": .header, "llvm-ir": .llvmIR, "asm": .assembly]

    func run() throws {
        do {
            let loaded = try loadModel(model)
            let kinds = emit.split(separator: ",").reduce(into: EmitKinds()) { $0.insert(Compile.kinds[String($1)] ?? []) }
            let spec = try resolveTarget(target, cpu: cpu)
            let written = try compileModel(loaded, objectPath: output, headerPath: header, emit: kinds, target: spec,
                                           prefix: name)
            for file in written { Swift.print("wrote \(file)") }
        } catch {
            fail(error)
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model in-process (JIT-compiled native code, or the reference interpreter).")

    @Argument(help: "The .tir model.") var model: String
    @Option(help: "Token ids for the model's integer input, comma-separated (e.g. 1,2,3).") var tokens: String?
    @Option(name: .customLong("input"), help: ArgumentHelp("An input from a .npy file.", valueName: "name=file.npy"))
    var inputs: [String] = []
    @Option(help: "Fill every input not given with seeded random values (token ids within the vocabulary).")
    var randomInputs: UInt64?
    @Option(help: "Sequence length for --random-inputs (default: the maximum).") var seq: Int?
    @Flag(help: "Use the reference interpreter (Double precision) instead of native code.") var interpret = false
    @Option(name: .shortAndLong, help: "Write the (first) output to this .npy file instead of printing it.")
    var output: String?
    @Flag(help: "Print every value, not a summary of each row.") var full = false

    func run() throws {
        do {
            let loaded = try loadModel(model)
            let given = try parseInputs(loaded.module, tokens: tokens, files: inputs)
            let all = randomInputs.map { fillRandomInputs(loaded, given: given, seed: $0, seqLen: seq) } ?? given
            for input in loaded.module.inputs where all[input.name] == nil {
                throw DriverError("error: no value for input %\(input.name): use --tokens, --input \(input.name)=file.npy or --random-inputs SEED")
            }
            let outputs = try runModel(loaded, inputs: all, seqLen: nil, engine: interpret ? .interpreter : .jit)
            if let output, let first = loaded.module.outputs.first, let tensor = outputs[first.name] {
                try writeNpy(tensor, to: output)
                Swift.print("wrote \(output): %\(first.name) f32\(tensor.shape)")
                return
            }
            for out in loaded.module.outputs {
                guard let tensor = outputs[out.name] else { continue }
                Swift.print(describeTensor(name: out.name, tensor, full: full))
            }
        } catch {
            fail(error)
        }
    }
}

TFCCommand.main()
