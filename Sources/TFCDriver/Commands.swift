// The commands of `tfc` as library calls: each loads what it needs, runs the stages of
// Driver.swift, Variants.swift, Verify.swift, Bench.swift or Import.swift, and writes its
// files and its text (to a `Console`). The command line only parses options and calls these;
// a failure is thrown as an error whose description is the rendered message.
import Foundation
import TIR
import TIRCodegen
import TIRFormats

/// Where a command's text goes: standard output and standard error unless a caller collects it.
public struct Console: Sendable {
    /// Writes text to the output stream as given (no newline added).
    public var write: @Sendable (String) -> Void
    /// Writes text to the error stream as given (no newline added).
    public var writeError: @Sendable (String) -> Void
    /// Where long commands report their stages (silent unless the command line shows it).
    public var progress: Progress = .silent
    /// Pushes what was written so far to its reader (text streamed as it is made: generate).
    public var flush: @Sendable () -> Void = {}

    public init(write: @escaping @Sendable (String) -> Void, writeError: @escaping @Sendable (String) -> Void) {
        self.write = write
        self.writeError = writeError
    }

    /// This console, reporting progress to `progress`.
    public func showing(_ progress: Progress) -> Console {
        var copy = self
        copy.progress = progress
        return copy
    }

    /// The process's stdout (buffered, as `print`) and stderr (unbuffered).
    public static let standard: Console = {
        var console = Console(write: { Swift.print($0, terminator: "") },
                              writeError: { FileHandle.standardError.write(Data($0.utf8)) })
        console.flush = { fflush(nil) }  // every output stream: stdout is the one written
        return console
    }()

    /// One line on the output stream.
    public func print(_ line: String) { write(line + "\n") }

    /// One line on the error stream (on a line of its own when progress is shown there).
    public func error(_ line: String) { writeError((progress.enabled ? "\r\u{1B}[K" : "") + line + "\n") }

    /// Pretty, stable JSON on the output stream (for --json).
    public func printJSON(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // An error can be inf (or NaN): JSON has no such numbers, so they are written as strings.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
    }
}

/// `tfc check`, `compile`, `run`, `opt`, `verify`, `bench` and `import`.
public enum Commands {
    /// Parses, verifies and resolves the parameters of `model`; prints a summary line, or the
    /// model in canonical form.
    public static func check(model: String, printCanonical: Bool, console: Console = .standard) throws {
        console.progress.begin("reading the model and checking its weights")
        // Every weight is checked, but seeded values are not generated (checkWeights).
        let (m, source) = try parseAndVerify(model)
        do {
            try checkWeights(for: m, tirPath: model)
        } catch {
            throw rendered(error, source: source)
        }
        console.progress.finish()
        if printCanonical {
            console.write(printModule(m))
        } else {
            let count = m.params.reduce(0) { $0 + ($1.type.staticShape?.reduce(1, *) ?? 0) }
            console.print("\(model): ok: @\(m.name), \(m.body.count) ops, \(m.params.count) parameters (\(count) values)")
        }
    }

    /// Compiles `model` (in `variant`, at `precision`) to `output` and the files `emit` names;
    /// prints each file written.
    public static func compile(model: String, variant: ModelVariant, precision: Precision = .fp32, remarks: Bool,
                               output: String, header: String?, weightsFile: String? = nil,
                               emit: String, target: String?, cpu: String?, prefix: String?, minParallelWork: Int,
                               console: Console = .standard) throws {
        // A bad --target or --cpu fails before the model is read and rewritten.
        try checkTarget(target, cpu: cpu)
        let kinds = try EmitKinds(list: emit)
        // So does a model whose weights cannot fit in an object, before gigabytes are read.
        if weightsFile == nil, kinds.contains(.object) {
            let (module, _) = try parseAndVerify(model)
            let bytes = leastEmbeddedBytes(module, precision: precision)
            if bytes > maxEmbeddedWeightBytes {
                throw DriverError("error: \(model): the weights take at least \(bytes / 1_000_000) MB, more than an object"
                                  + " embeds (\(maxEmbeddedWeightBytes >> 20) MiB: its code reaches its data with 32-bit"
                                  + " offsets); write them to a file beside the object with --weights-file FILE")
            }
        }
        let loaded = try loadModel(model, variant: variant, precision: precision, remarks: remarks, console: console)
        let written = try compileModel(loaded, objectPath: output, headerPath: header, emit: kinds,
                                       weightsFile: weightsFile, target: target,
                                       cpu: cpu, prefix: prefix, minParallelWork: minParallelWork, progress: console.progress)
        console.progress.finish()
        for file in written { console.print("wrote \(file)") }
    }

    /// Runs `model` (in `variant`, at `precision`) on the given inputs, then prints a summary of
    /// every output (every value with `full`), or writes the first output to the .npy file `output`.
    public static func run(model: String, variant: ModelVariant, precision: Precision = .fp32, remarks: Bool,
                           tokens: String?, inputFiles: [String],
                           randomInputs seed: UInt64?, seqLen: Int?, interpret: Bool, output: String?, full: Bool,
                           console: Console = .standard) throws {
        let loaded = try loadModel(model, variant: variant, precision: precision, remarks: remarks, console: console)
        // The output may replace none of the files read: the model, its weights, the inputs.
        let files = OutputSet()
        files.reads(model: loaded)
        for item in inputFiles {
            if let eq = item.firstIndex(of: "=") { files.reads(String(item[item.index(after: eq)...]), as: "file") }
        }
        if let output { try files.declare(output, option: "-o") }
        let given = try parseInputs(loaded.module, tokens: tokens, files: inputFiles)
        let all = seed.map { fillRandomInputs(loaded, given: given, seed: $0, seqLen: seqLen) } ?? given
        for input in loaded.module.inputs where all[input.name] == nil {
            throw DriverError("error: no value for input %\(input.name): use --tokens, --input \(input.name)=file.npy or --random-inputs SEED")
        }
        console.progress.begin(interpret ? "running the interpreter" : "compiling (JIT) and running")
        let outputs = try runModel(loaded, inputs: all, seqLen: nil, engine: interpret ? .interpreter : .jit)
        if let output, let first = loaded.module.outputs.first, let tensor = outputs[first.name] {
            files.provide(output, try encodeNpy(tensor, file: output))
            console.progress.begin("writing \(output)")
            try files.commit()
            console.progress.finish()
            console.print("wrote \(output): %\(first.name) f32\(tensor.shape)")
            return
        }
        console.progress.finish()
        for out in loaded.module.outputs {
            guard let tensor = outputs[out.name] else { continue }
            console.print(describeTensor(name: out.name, tensor, full: full))
        }
    }

    /// Rewrites `model` with `passes` (comma-separated) or the pipeline of `variant` at
    /// `precision` (give one; `precision` bf16 only with `variant`: a `--passes` list names
    /// `to-bf16` itself) and prints the result, or writes it and its weights (`output`: a .tir path).
    public static func opt(model: String, passes pipelineText: String?, variant: ModelVariant?,
                           precision: Precision = .fp32, output: String?,
                           printAfterAll: Bool, remarks: Bool, console: Console = .standard) throws {
        if pipelineText != nil && precision != .fp32 {
            throw DriverError("error: --precision \(precision.rawValue) applies to --variant; with --passes, name the pass instead (e.g. --passes \(pipelineText ?? ""),to-bf16)")
        }
        console.progress.begin("reading the model and its weights")
        let original = try loadModel(model)
        let pipeline = try variant.map { TFCDriver.pipeline($0, precision: precision) } ?? passes(named: pipelineText ?? "")
        console.progress.begin("running the passes")
        let rewritten = try rewrite(original, passes: pipeline) { pass, module in
            if printAfterAll { console.print("// after \(pass.name)\n" + printModule(module)) }
        }
        if remarks && !rewritten.remarks.isEmpty { console.error(renderRemarks(rewritten.remarks, source: original.source)) }
        if let output {
            console.progress.begin("writing \(output)")
            let written = try writeRewritten(rewritten, to: output)
            console.progress.finish()
            for file in written { console.print("wrote \(file)") }
        } else if !printAfterAll {
            console.progress.finish()
            console.write(printModule(rewritten.model.module))
        }
        if output == nil && !pipeline.isEmpty {
            console.error("note: the rewritten weights were not saved: use -o FILE.tir to write a runnable model and its weights")
        }
    }

    /// Checks every variant of `model` (and each `candidates` file) against its float64
    /// interpreter, prints the report (text or JSON), and returns whether all passed.
    /// `seqLens`: comma-separated lengths, nil for the default ones. At `precision` bf16 every
    /// variant, pre-ln included, is checked after `to-bf16`, against the bf16 tolerance
    /// (`VerifyOptions.bf16Tolerance`).
    public static func verify(model: String, candidates candidatePaths: [String], seqLens: String?, samples: Int,
                              seed: UInt64, factor: Double, precision: Precision = .fp32, json: Bool,
                              console: Console = .standard) throws -> Bool {
        console.progress.begin("reading the model and its weights")
        let original = try loadModel(model)
        var candidates: [(name: String, model: LoadedModel)] = []
        for variant in ModelVariant.allCases where variant != .preLN || precision != .fp32 {
            let name = verifyName(variant, precision)
            console.progress.begin("rewriting to \(name)")
            candidates.append((name, try rewrite(original, variant: variant, precision: precision).model))
        }
        for path in candidatePaths {
            console.progress.begin("reading \(path)")
            candidates.append((path, try loadModel(path)))
        }
        var options = VerifyOptions()
        options.samples = samples
        options.seed = seed
        options.factor = factor
        options.precision = precision
        if let seqLens {
            options.seqLens = try seqLens.split(separator: ",").map {
                guard let n = Int($0.trimmingCharacters(in: .whitespaces)) else { throw DriverError("error: --seq: '\($0)' is not an integer") }
                let most = original.module.seq?.max ?? 1
                guard (1...most).contains(n) else {
                    throw DriverError("error: --seq \(seqLens): \(n) is not a sequence length of the model (1 to \(most))")
                }
                return n
            }
        }
        let report = try verifyVariants(original, candidates: candidates, options: options, progress: console.progress)
        console.progress.finish()
        if json {
            console.printJSON(report)
        } else {
            console.print(report.text)
        }
        return report.pass
    }

    /// Times the variants of `model` (`variants`: comma-separated names, nil for all) and prints
    /// the report (text or JSON).
    /// `precisions`: comma-separated (fp32, bf16 or both, interleaved in one run).
    /// `decodeContexts`: time decode steps (one new token after that many cached positions)
    /// instead of whole calls (benchmarkDecode).
    static func parseVariants(_ list: String) throws -> [ModelVariant] {
        try list.split(separator: ",").map {
            guard let v = ModelVariant(rawValue: String($0)) else { throw DriverError("error: unknown variant '\($0)'") }
            return v
        }
    }

    public static func bench(model: String, seqLen: Int?, runs: Int, warmup: Int, variants: String?, threads: Int,
                             precisions: String = "fp32", profile: Bool = false, measurePeak: Bool, json: Bool,
                             decodeContexts: [Int]? = nil, console: Console = .standard) throws {
        var options = BenchOptions()
        options.precisions = try precisions.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let p = Precision(rawValue: String($0)) else {
                throw DriverError("error: --precision: unknown precision '\($0)' (fp32, bf16, or both: fp32,bf16)")
            }
            return p
        }
        if let decodeContexts {
            var decode = DecodeBenchOptions()
            (decode.precisions, decode.contexts, decode.runs, decode.warmup) = (options.precisions, decodeContexts, runs, warmup)
            (decode.threads, decode.measureBandwidth) = (threads, measurePeak)
            if let variants { decode.variants = try parseVariants(variants) }
            console.progress.begin("reading the model and its weights")
            let report = try benchmarkDecode(try loadModel(model), options: decode, progress: console.progress)
            console.progress.finish()
            if json { console.printJSON(report) } else { console.print(report.text) }
            return
        }
        options.profile = profile
        options.seqLen = seqLen
        options.runs = runs
        options.warmup = warmup
        options.threads = threads
        options.measurePeak = measurePeak
        if let variants { options.variants = try parseVariants(variants) }
        console.progress.begin("reading the model and its weights")
        let loaded = try loadModel(model)
        let report = try benchmark(loaded, options: options, progress: console.progress)
        console.progress.finish()
        if json {
            console.printJSON(report)
        } else {
            console.print(report.text)
        }
    }

    /// Imports the checkpoint folder `directory` as the .tir file `output`.
    public static func importCheckpoint(directory: String, output: String, console: Console = .standard) throws {
        let note = try importModel(directory: directory, to: output, progress: console.progress)
        console.progress.finish()
        if let note { console.error(note) }
        console.print("wrote \(output)")
    }
}

/// `%logits f32[3, 256]` then one line per row: its first values and its argmax.
public func describeTensor(name: String, _ tensor: HostTensor, full: Bool) -> String {
    let values = tensor.floats
    let cols = tensor.shape.count > 1 ? tensor.shape.dropFirst().reduce(1, *) : max(values.count, 1)
    var lines = ["%\(name) f32\(tensor.shape)"]
    for start in stride(from: 0, to: values.count, by: cols) {
        let row = values[start..<min(start + cols, values.count)]
        let shown = full ? Array(row) : Array(row.prefix(6))
        var line = "  [" + shown.map { String(format: "%.6g", $0) }.joined(separator: ", ")
        if shown.count < row.count { line += ", ... (\(row.count) values)" }
        line += "]"
        if let best = row.indices.max(by: { row[$0] < row[$1] }) { line += "  argmax \(best - start)" }
        lines.append(line)
    }
    return lines.joined(separator: "\n")
}

/// A lower bound on the bytes an object embeds for `module`: every parameter an op reads, once,
/// at its element size (at most 2 bytes at `--precision bf16`); the code's layouts only add
/// (panel padding, a tied table both as read and packed).
func leastEmbeddedBytes(_ module: Module, precision: Precision) -> Int {
    var read = Set<String>()
    for inst in module.body {
        for case .param(let name) in inst.operands { read.insert(name) }
    }
    return module.params.filter { read.contains($0.name) }.reduce(0) { total, param in
        let count = param.type.dims.reduce(1) { $0 * ($1.fixedValue ?? 1) }
        let size = precision == .bf16 ? min(2, param.type.dtype.byteSize) : param.type.dtype.byteSize
        return total + count * size
    }
}
