// The tfc command line: ArgumentParser commands that parse and validate options, then call
// the driver (`Commands` in TFCDriver), which loads, rewrites, runs or compiles and writes
// every file and line of text. A failure is printed and exits 1; a failed `verify` exits 1.
import ArgumentParser
import Foundation
import TFCDriver

struct TFCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tfc",
        abstract: "An ahead-of-time compiler for Pre-LN Transformer models.",
        subcommands: [Compile.self, Run.self, Generate.self, Check.self, Opt.self, Verify.self, Bench.self, Import.self])

    /// No command given: the usage on stderr, and a failure.
    func run() throws {
        Console.standard.error(TFCCommand.helpMessage())
        throw ExitCode(2)
    }
}

/// Prints a rendered error to stderr and exits non-zero.
func fail(_ error: any Error) -> Never {
    Console.standard.error(String(describing: error))
    exit(1)
}

extension ModelVariant: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// `a, b or c`.
func listed(_ names: [String]) -> String {
    names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names[names.count - 1]
}

/// `-R`: the passes' remarks, for every command that rewrites a model.
struct RemarksOption: ParsableArguments {
    @Flag(name: [.customShort("R"), .customLong("remarks")], help: "Say where each pass fired and, where it did not, why.")
    var remarks = false
}

/// `--precision`: the arithmetic of the matrix products, for every command that builds a variant.
struct PrecisionOption: ParsableArguments {
    @Option(help: ArgumentHelp("The matrix products: fp32 (as written) or bf16 (after the variant's passes, the to-bf16 pass: weights stored as bf16, inputs rounded to bf16, float32 sums).",
                               valueName: "precision"))
    var precision: Precision = .fp32
}

/// `--variant`, `--precision` and `-R`, shared by every command that runs or compiles a model.
struct VariantOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The model variant: pre-ln (as written), pre-rms (centered, RMSNorm, gains folded) or pre-crms (also stored in d-1 numbers).",
                               valueName: "variant"))
    var variant: ModelVariant = .preLN

    @OptionGroup var precisionOption: PrecisionOption

    @OptionGroup var remarksOption: RemarksOption

    var precision: Precision { precisionOption.precision }

    var remarks: Bool { remarksOption.remarks }
}

/// `--quiet`: no progress on stderr (shown only when stderr is a terminal).
struct QuietOption: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Show no progress (shown on stderr only when it is a terminal).") var quiet = false

    /// The console of `command`: progress on a terminal unless --quiet.
    func console(_ command: String) -> Console {
        Console.standard.showing(.onTerminal(command: "tfc \(command)", quiet: quiet))
    }
}

/// Clears the progress line, prints a rendered error to stderr and exits non-zero.
func fail(_ error: any Error, _ console: Console) -> Never {
    console.progress.abandon()
    fail(error)
}

/// `--json`, for the commands that print a report.
struct JSONOption: ParsableArguments {
    @Flag(help: "Print the report as JSON.") var json = false
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse and verify a model and resolve its parameters; generate no code.")

    @Argument(help: "The .tir model.") var model: String
    @Flag(help: "Print the model in canonical form.") var print = false

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("check")
        do {
            try Commands.check(model: model, printCanonical: print, console: console)
        } catch {
            fail(error, console)
        }
    }
}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model to a relocatable object file and a C header.",
        discussion: "Writes OUTPUT (an object file with the weights embedded, or with --weights-file in a file beside it) and a header beside it (model.o -> model.h) declaring <name>_forward and <name>_forward_threads. Link with: cc app.c model.o -lm -lpthread. --emit also writes, beside OUTPUT: llvm-ir model.ll (optimized), llvm-ir-unopt model.unopt.ll (as lowered), asm model.s, fusion model.fusion.txt (what each GEMM's epilogue computes), memory-plan model.memory-plan.txt (where every value lives).")

    @Argument(help: "The .tir model.") var model: String
    @Option(name: .shortAndLong, help: "The object file to write.") var output: String
    @Option(help: "The header to write (default: OUTPUT with the extension .h).") var header: String?
    @Option(help: ArgumentHelp("Write the weights to this file instead of embedding them in the object (needed past 1984 MiB of weights); the program maps it and passes it to <name>_set_weights.",
                               valueName: "file")) var weightsFile: String?
    @Option(help: ArgumentHelp("What to write, comma-separated: \(EmitKinds.names.map(\.name).joined(separator: ", ")).",
                               valueName: "kinds")) var emit: String = "obj,header"
    @Option(help: "Target: host (default), x86_64, aarch64, or an LLVM triple.") var target: String?
    @Option(help: ArgumentHelp("Target CPU (default: the host's, or a generic CPU of the target); several, comma-separated (x86-64), for one object with code for each that runs the first the CPU it runs on can.",
                               valueName: "cpu[,cpu...]")) var cpu: String?
    @Option(help: "C symbol prefix (default: the model's name).") var name: String?
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Parallel loops estimated below this many flops run on the calling thread (0: split every loop).",
                               valueName: "flops")) var minParallelFlops = defaultMinParallelFlops
    @OptionGroup var variantOptions: VariantOptions

    func validate() throws {
        guard minParallelFlops >= 0 else { throw ValidationError("--min-parallel-flops must be at least 0") }
        do {
            _ = try EmitKinds(list: emit)
        } catch {
            throw ValidationError(String(describing: error))
        }
    }

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("compile")
        do {
            try Commands.compile(model: model, variant: variantOptions.variant, precision: variantOptions.precision,
                                 remarks: variantOptions.remarks,
                                 output: output, header: header, weightsFile: weightsFile, emit: emit, target: target, cpu: cpu, prefix: name,
                                 minParallelWork: minParallelFlops, console: console)
        } catch {
            fail(error, console)
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
    @Option(parsing: .unconditional,
            help: "Fill every input not given with seeded random values (token ids within the vocabulary).")
    var randomInputs: String?
    @Option(parsing: .unconditional, help: "Sequence length for --random-inputs (default: the maximum).") var seq: Int?
    @Flag(help: "Use the reference interpreter (Double precision) instead of native code.") var interpret = false
    @Option(name: .shortAndLong, help: "Write the (first) output to this .npy file instead of printing it.")
    var output: String?
    @Flag(help: "Print every value, not a summary of each row.") var full = false
    @OptionGroup var variantOptions: VariantOptions

    /// The seed of --random-inputs (a whole number from 0 to 2^64-1).
    var seed: UInt64? { randomInputs.flatMap { UInt64($0) } }

    func validate() throws {
        if let randomInputs, UInt64(randomInputs) == nil {
            throw ValidationError("--random-inputs \(randomInputs): the seed must be a whole number from 0 to \(UInt64.max)")
        }
        if let seq, seq < 1 { throw ValidationError("--seq \(seq): the sequence length must be at least 1") }
        if seq != nil && randomInputs == nil { throw ValidationError("--seq sets the length of --random-inputs: give --random-inputs SEED too") }
    }

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("run")
        do {
            try Commands.run(model: model, variant: variantOptions.variant, precision: variantOptions.precision,
                             remarks: variantOptions.remarks, tokens: tokens,
                             inputFiles: inputs, randomInputs: seed, seqLen: seq, interpret: interpret,
                             output: output, full: full, console: console)
        } catch {
            fail(error, console)
        }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a causal model (a GPT), one token at a time through its key/value cache.",
        discussion: "The prompt (--prompt, through the model's tokenizer: the folder its .tir names with 'tokenizer \"folder\"', or --tokenizer) or its token ids (--tokens) goes in with one call, then each new token with one call of the model's extend entry point. New text is streamed to stdout as it is made (a character split across tokens once it is whole; ids when there is no tokenizer), then a newline; a closing line on stderr gives the prompt and new token counts and the milliseconds per token of the prefill and of the decode steps. Greedy unless --temperature is above 0. Stops at --max-new-tokens, at the end-of-text token (eos_token_id of the tokenizer folder's generation_config.json or config.json, else <|endoftext|>) unless --ignore-eos, before any --stop string, or when the context is full.")

    @Argument(help: "The .tir model.") var model: String
    @Option(help: "The prompt, as text.") var prompt: String?
    @Option(help: "The prompt as token ids, comma-separated.") var tokens: String?
    @Option(help: "The tokenizer: a folder with tokenizer.json or vocab.json + merges.txt, or a tokenizer.json (default: the one the .tir names).")
    var tokenizer: String?
    @Option(parsing: .unconditional, help: "The most tokens to generate.") var maxNewTokens = 32
    @Option(parsing: .unconditional, help: "0: greedy; above 0: sample from softmax(logits / temperature).") var temperature = 0.0
    @Option(parsing: .unconditional, help: "Sample among the k most likely tokens only (0: all).") var topK = 0
    @Option(parsing: .unconditional, help: "Then among the fewest tokens whose probability adds up to p (1: all).") var topP = 1.0
    @Option(parsing: .unconditional, help: "Seed of the sampling (the same seed gives the same tokens).") var seed: UInt64 = 0
    @Option(help: "Stop before this text would be printed; repeatable.") var stop: [String] = []
    @Flag(help: "Go on past the end-of-text token.") var ignoreEOS = false
    @Option(parsing: .unconditional, help: "Threads per call (default: one per online core).") var threads = 0
    @OptionGroup var variantOptions: VariantOptions

    func validate() throws {
        if (prompt == nil) == (tokens == nil) { throw ValidationError("give one of --prompt and --tokens") }
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 (all) or more") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard threads >= 0 else { throw ValidationError("--threads \(threads): give 0 (one per online core) or more") }
        if stop.contains("") { throw ValidationError("--stop: a stop string cannot be empty") }
    }

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("generate")
        var options = GenerationOptions()
        options.maxNewTokens = maxNewTokens
        options.sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)
        options.stop = stop
        options.ignoreEOS = ignoreEOS
        options.threads = threads
        do {
            try Commands.generate(model: model, variant: variantOptions.variant, precision: variantOptions.precision,
                                  remarks: variantOptions.remarks, prompt: prompt, tokens: tokens, tokenizer: tokenizer,
                                  options: options, console: console)
        } catch {
            fail(error, console)
        }
    }
}

struct Opt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model with passes and print (or write) the result.",
        discussion: "Passes: \(availablePasses.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")). With -o out.tir the rewritten parameters are written to out.safetensors beside it.")

    @Argument(help: "The .tir model.") var model: String
    @Option(help: "Comma-separated passes, run in order.") var passes: String?
    @Option(help: "A named pipeline instead of --passes: \(listed(ModelVariant.allCases.map(\.rawValue))).")
    var variant: ModelVariant?
    @OptionGroup var precisionOption: PrecisionOption
    @Option(name: .shortAndLong, help: "Write the rewritten model here (and its weights beside it) instead of printing it.")
    var output: String?
    @Flag(help: "Print the module after every pass.") var printAfterAll = false
    @OptionGroup var remarksOption: RemarksOption

    func validate() throws {
        if (passes == nil) == (variant == nil) { throw ValidationError("give exactly one of --passes and --variant") }
        if let passes, precisionOption.precision != .fp32 {
            throw ValidationError("--precision \(precisionOption.precision.rawValue) goes with --variant; with --passes, name the pass at the end instead: --passes \(passes),to-bf16")
        }
    }

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("opt")
        do {
            try Commands.opt(model: model, passes: passes, variant: variant, precision: precisionOption.precision,
                             output: output, printAfterAll: printAfterAll,
                             remarks: remarksOption.remarks, console: console)
        } catch {
            fail(error, console)
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the model's variants compute the same outputs as the original.",
        discussion: "Runs the original and every variant (pre-rms, pre-crms, and any --candidate) on seeded random inputs, through compiled code and the interpreter, and compares each with the float64 interpreter of the original. A variant passes when its relative error is at most --factor times the compiled original's own float32 error. With --precision bf16 every variant (pre-ln included) is checked after the to-bf16 pass, against a fixed bound of 8 x 2^-8 relative error instead (printed in the report). Exits 1 if any fails.")

    @Argument(help: "The .tir model (the original).") var model: String
    @Option(help: "Another .tir to check against the original (e.g. written by tfc opt); repeatable.")
    var candidate: [String] = []
    @Option(parsing: .unconditional, help: "Sequence lengths, comma-separated (default: 1, half the maximum, the maximum).")
    var seq: String?
    @Option(parsing: .unconditional, help: "Random inputs per sequence length.") var samples = 2
    @Option(parsing: .unconditional, help: "Seed of the random inputs.") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Tolerance, in multiples of the original's own float32 error.") var factor = 10.0
    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var jsonOption: JSONOption

    func validate() throws {
        guard factor >= 1, factor.isFinite else { throw ValidationError("--factor must be at least 1, got \(factor)") }
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1, got \(samples)") }
    }

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("verify")
        let pass: Bool
        do {
            pass = try Commands.verify(model: model, candidates: candidate, seqLens: seq, samples: samples, seed: seed,
                                       factor: factor, precision: precisionOption.precision, json: jsonOption.json,
                                       console: console)
        } catch {
            fail(error, console)
        }
        if !pass { throw ExitCode(1) }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the model's variants (pre-ln, pre-rms, pre-crms), compiled for this CPU, in one run.",
        discussion: "Each variant is compiled, then called in turns (one call of each per round) so that machine noise falls on all alike. Prints the median and the 10th/90th percentiles of the call time, GFLOP/s of matrix work (linears, patch embedding, attention; the original's count for every variant) and its share of this machine's fp32 FMA peak (measured first, on the same number of threads), the speedup against pre-ln (at the first precision), and the median time of each variant's norms alone on the same shapes. With --precision fp32,bf16 every variant is timed in both precisions in the same rounds; with --profile, where each configuration's time goes, per op kind.")

    @Argument(help: "The .tir model.") var model: String
    @Option(parsing: .unconditional, help: "Sequence length (default: the model's maximum).") var seq: Int?
    @Option(parsing: .unconditional, help: "Timed calls per variant.") var runs = 20
    @Option(parsing: .unconditional, help: "Untimed calls per variant first.") var warmup = 2
    @Option(help: "Variants to time, comma-separated (default: all).") var variants: String?
    @Option(parsing: .unconditional, help: "Threads per call (default: one per online core).") var threads = 0
    @Option(help: ArgumentHelp("The matrix products: fp32, bf16 (after the variant's passes, the to-bf16 pass), or both (fp32,bf16), interleaved in one run.",
                               valueName: "precisions"))
    var precision = "fp32"
    @Flag(help: "Also time each op kind (a separately compiled build that times every op; printed per variant and precision).")
    var profile = false
    @OptionGroup var jsonOption: JSONOption
    @Flag(help: "Skip the FMA peak (with --decode: read bandwidth) measurement.") var noPeak = false
    @Flag(help: "Time decode steps instead: one new token through the extend entry points after --context cached positions (ms per token, bytes read per token, share of the measured read bandwidth).")
    var decode = false
    @Option(help: ArgumentHelp("With --decode: cached positions before each new token, comma-separated.", valueName: "n[,n...]"))
    var context = "128"

    /// --context as numbers.
    var contexts: [Int]? { context.split(separator: ",").map { Int($0) ?? -1 } }

    func validate() throws {
        guard runs >= 1, warmup >= 0 else { throw ValidationError("--runs must be at least 1 and --warmup at least 0") }
        if decode {
            guard let contexts, !contexts.isEmpty, contexts.allSatisfy({ $0 >= 0 }) else {
                throw ValidationError("--context \(context): give cached positions as whole numbers, comma-separated")
            }
            if seq != nil || profile { throw ValidationError("--decode times one new token: --seq and --profile do not apply") }
        }
        if let seq, seq < 1 { throw ValidationError("--seq \(seq): the sequence length must be at least 1") }
        guard threads >= 0 else { throw ValidationError("--threads \(threads): give 0 (one per online core) or more") }
    }

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("bench")
        do {
            try Commands.bench(model: model, seqLen: seq, runs: runs, warmup: warmup, variants: variants, threads: threads,
                               precisions: precision, profile: profile, measurePeak: !noPeak, json: jsonOption.json,
                               decodeContexts: decode ? contexts : nil, console: console)
        } catch {
            fail(error, console)
        }
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a Hugging Face checkpoint (config.json + model.safetensors) as a .tir model.",
        discussion: "Supported: GPT-2 (GPT2LMHeadModel, GPT2Model), OPT in its Pre-LN form (OPTForCausalLM, OPTModel) and ViT (ViTModel, ViTForImageClassification), float32, float16 or bfloat16 weights. The .tir reads the checkpoint's weights in place.")

    @Argument(help: "The checkpoint folder.") var directory: String
    @Option(name: .shortAndLong, help: "The .tir file to write.") var output: String

    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let console = quietOption.console("import")
        do {
            try Commands.importCheckpoint(directory: directory, output: output, console: console)
        } catch {
            fail(error, console)
        }
    }
}

TFCCommand.main()
